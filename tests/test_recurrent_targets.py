"""The recurrent learner's targets: the step cap bootstraps from the episode's own end, a death
does not bootstrap, and nothing past the first end of an episode is learned."""

from __future__ import annotations

import pytest
import torch

from townlet.learner.networks import GruQNetwork
from townlet.learner.recurrent_targets import recurrent_td_targets
from townlet.learner.replay import SequenceBatch

OBS, ACTIONS, LENGTH, GAMMA = 3, 2, 5, 0.9
END = 2  # the step at which the episode ends


def _batch(terminated: bool) -> SequenceBatch:
    """One world's sequence: its episode ends at step END (death or the cap); the slot after it
    holds the next episode's first observation, unlike the episode's own last one."""
    torch.manual_seed(0)
    observations = torch.randn(1, LENGTH, OBS)
    next_observations = torch.cat([observations[:, 1:], torch.randn(1, 1, OBS)], dim=1).clone()
    next_observations[0, END] = torch.full((OBS,), 5.0)  # the episode's last observation
    dones = torch.zeros(1, LENGTH, dtype=torch.bool)
    dones[0, END] = True
    return SequenceBatch(
        observations=observations,
        masks=torch.ones(1, LENGTH, ACTIONS, dtype=torch.bool),
        actions=torch.zeros(1, LENGTH, dtype=torch.long),
        rewards=torch.ones(1, LENGTH),
        next_observations=next_observations,
        next_masks=torch.ones(1, LENGTH, ACTIONS, dtype=torch.bool),
        dones=dones,
        terminated=dones.clone() if terminated else torch.zeros_like(dones),
    )


def _value_after_end(network: GruQNetwork, batch: SequenceBatch) -> float:
    """By hand: the episode's steps up to END, then its own last observation."""
    return _by_hand(network, batch, END)


def test_the_step_cap_bootstraps_from_the_episodes_own_last_observation() -> None:
    torch.manual_seed(1)
    network = GruQNetwork(OBS, ACTIONS, [8])
    batch = _batch(terminated=False)
    _, targets, learn = recurrent_td_targets(batch, network, network, GAMMA, burn_in=0)
    expected = 1.0 + GAMMA * _value_after_end(network, batch)
    assert abs(float(targets[0, END]) - expected) < 1e-5
    assert learn[0].tolist() == [1.0, 1.0, 1.0, 0.0, 0.0]


def test_a_death_does_not_bootstrap() -> None:
    torch.manual_seed(1)
    network = GruQNetwork(OBS, ACTIONS, [8])
    _, targets, learn = recurrent_td_targets(_batch(terminated=True), network, network, GAMMA, 1)
    assert float(targets[0, END]) == 1.0
    assert learn[0].tolist() == [0.0, 1.0, 1.0, 0.0, 0.0]  # burn-in, then up to the death


def _by_hand(network: GruQNetwork, batch: SequenceBatch, step: int) -> float:
    """Greedy value after ``step``, the network run from the sequence's start up to it."""
    sequence = torch.cat(
        [batch.observations[:, : step + 1], batch.next_observations[:, step : step + 1]], 1
    )
    with torch.no_grad():
        q_values, _ = network(sequence, network.initial_state(1, torch.device("cpu")))
    return float(q_values[0, -1].max())


def test_n_step_returns_sum_rewards_and_stop_at_an_end_or_the_sequences_end() -> None:
    torch.manual_seed(1)
    network = GruQNetwork(OBS, ACTIONS, [8])
    batch = _batch(terminated=True)  # a death at step END = 2 of 0..4
    batch.rewards[0] = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0])
    _, targets, _ = recurrent_td_targets(batch, network, network, GAMMA, 0, n_step=3)
    # Step 0: three rewards up to the death, nothing after it.
    assert abs(float(targets[0, 0]) - (1 + GAMMA * 2 + GAMMA**2 * 4)) < 1e-5
    # Step 1: two rewards, the second the death's.
    assert abs(float(targets[0, 1]) - (2 + GAMMA * 4)) < 1e-5


def test_n_step_returns_bootstrap_where_the_sampled_sequence_ends() -> None:
    torch.manual_seed(1)
    network = GruQNetwork(OBS, ACTIONS, [8])
    batch = _batch(terminated=False)
    batch.dones[0] = False  # one episode throughout
    batch.next_observations[0, END] = batch.observations[0, END + 1]
    batch.rewards[0] = torch.tensor([1.0, 2.0, 4.0, 8.0, 16.0])
    _, targets, _ = recurrent_td_targets(batch, network, network, GAMMA, 0, n_step=3)
    expected = 8 + GAMMA * 16 + GAMMA**2 * _by_hand(network, batch, 4)
    assert abs(float(targets[0, 3]) - expected) < 1e-4
    expected = 1 + GAMMA * 2 + GAMMA**2 * 4 + GAMMA**3 * _by_hand(network, batch, 2)
    assert abs(float(targets[0, 0]) - expected) < 1e-4


def test_n_step_returns_bootstrap_past_the_step_cap() -> None:
    torch.manual_seed(1)
    network = GruQNetwork(OBS, ACTIONS, [8])
    batch = _batch(terminated=False)  # the cap at step END
    _, targets, _ = recurrent_td_targets(batch, network, network, GAMMA, 0, n_step=3)
    expected = 1 + GAMMA + GAMMA**2 * (1 + GAMMA * _value_after_end(network, batch))
    assert abs(float(targets[0, 0]) - expected) < 1e-5


def test_one_step_is_the_plain_target() -> None:
    torch.manual_seed(1)
    network = GruQNetwork(OBS, ACTIONS, [8])
    batch = _batch(terminated=False)
    _, one, _ = recurrent_td_targets(batch, network, network, GAMMA, 0, n_step=1)
    assert abs(float(one[0, 0]) - (1 + GAMMA * _by_hand(network, batch, 0))) < 1e-5


def test_a_gru_with_a_dueling_head_keeps_the_calling_convention() -> None:
    """Layers after the GRU change what it computes, not how it is called."""
    torch.manual_seed(1)
    network = GruQNetwork(OBS, ACTIONS, [8, 16], dueling=True)
    sequence = torch.randn(2, 5, OBS)
    q_values, final = network(sequence, network.initial_state(2, torch.device("cpu")))
    assert q_values.shape == (2, 5, ACTIONS) and final.shape == (2, 8)
    # Stepping tick by tick gives the same Q-values as the whole sequence at once.
    hidden = network.initial_state(2, torch.device("cpu"))
    for t in range(5):
        step_q, hidden = network.step(sequence[:, t], hidden)
        assert torch.allclose(step_q, q_values[:, t], atol=1e-5)
    assert torch.allclose(hidden, final, atol=1e-5)
    # Dueling: the Q-values' mean over actions is the value head's output.
    assert network.value is not None
    with torch.no_grad():
        features = network.head_body(network.gru(network.encoder(sequence))[0])
        assert torch.allclose(q_values.mean(dim=-1), network.value(features)[..., 0], atol=1e-5)


def test_a_gru_without_head_layers_has_the_weights_older_files_hold() -> None:
    """Checkpoints of levels 2 and 3 saved before heads existed name exactly these."""
    names = set(GruQNetwork(OBS, ACTIONS, [8]).state_dict())
    gru = {f"gru.{kind}_{part}_l0" for kind in ("weight", "bias") for part in ("ih", "hh")}
    assert names == {"encoder.0.weight", "encoder.0.bias", "head.weight", "head.bias", *gru}


def test_advantage_learning_lowers_targets_by_the_gap_to_the_best_legal_action() -> None:
    """By hand: the target network's values along the episode; at step 1 only the taken
    action is legal, so its gap is zero whatever the other action is worth."""
    torch.manual_seed(3)
    network = GruQNetwork(OBS, ACTIONS, [8])
    batch = _batch(terminated=False)
    batch.masks[0, 1, 1] = False
    _, plain, _ = recurrent_td_targets(batch, network, network, GAMMA, 0)
    _, lowered, _ = recurrent_td_targets(batch, network, network, GAMMA, 0, advantage_learning=0.5)
    with torch.no_grad():
        q, _ = network(batch.observations, network.initial_state(1, torch.device("cpu")))
    for step in range(END + 1):  # the learned steps: up to the episode's end
        legal = q[0, step][batch.masks[0, step]]
        gap = float(legal.max() - q[0, step, 0])
        assert float(lowered[0, step]) == pytest.approx(float(plain[0, step]) - 0.5 * gap, abs=1e-5)
    assert float(lowered[0, 1]) == pytest.approx(float(plain[0, 1]), abs=1e-6)
    assert any(float(lowered[0, t]) < float(plain[0, t]) - 1e-4 for t in (0, 2))

"""The recurrent learner's targets: the step cap bootstraps from the episode's own end, a death
does not bootstrap, and nothing past the first end of an episode is learned."""

from __future__ import annotations

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
        actions=torch.zeros(1, LENGTH, dtype=torch.long),
        rewards=torch.ones(1, LENGTH),
        next_observations=next_observations,
        next_masks=torch.ones(1, LENGTH, ACTIONS, dtype=torch.bool),
        dones=dones,
        terminated=dones.clone() if terminated else torch.zeros_like(dones),
    )


def _value_after_end(network: GruQNetwork, batch: SequenceBatch) -> float:
    """By hand: the episode's steps up to END, then its own last observation."""
    sequence = torch.cat(
        [batch.observations[:, : END + 1], batch.next_observations[:, END : END + 1]], 1
    )
    with torch.no_grad():
        q_values, _ = network(sequence, network.initial_state(1, torch.device("cpu")))
    return float(q_values[0, -1].max())


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

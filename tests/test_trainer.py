"""The learner: legal actions only, a decaying epsilon, determinism and exact resume."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from tests.support.tiny import tiny_config
from townlet.checkpoints import load_checkpoint, played_weights
from townlet.learner.exploration import LinearEpsilon
from townlet.learner.trainer import DQNTrainer
from townlet.live.player import policy_from_checkpoint
from townlet.run_records import MetricPoint, RecordLog
from townlet.world.constants import INTERACT

CPU = torch.device("cpu")


def run_steps(trainer: DQNTrainer, batched_steps: int) -> None:
    for _ in range(batched_steps):
        trainer.train_step()


def assert_same_state(a: DQNTrainer, b: DQNTrainer) -> None:
    for (name, left), right in zip(
        a.online.state_dict().items(), b.online.state_dict().values(), strict=True
    ):
        assert torch.equal(left, right), f"online weights differ at {name}"
    for (name, left), right in zip(
        a.policy.state_dict().items(), b.policy.state_dict().values(), strict=True
    ):
        assert torch.equal(left, right), f"played (averaged) weights differ at {name}"
    assert torch.equal(a.world.meters, b.world.meters)
    assert torch.equal(a.world.positions, b.world.positions)
    assert (a.episode, a.env_step, a.update_step) == (b.episode, b.env_step, b.update_step)


def test_epsilon_really_decays() -> None:
    schedule = LinearEpsilon(1.0, 0.05, decay_steps=1000)
    assert schedule(0) == 1.0
    assert schedule(500) == pytest.approx(0.525)
    assert schedule(1000) == schedule(10**9) == pytest.approx(0.05)
    trainer = DQNTrainer(
        tiny_config(epsilon={"start": 1.0, "end": 0.1, "decay_steps": 3200}), CPU, Path("unused")
    )
    run_steps(trainer, 100)  # 1,600 transitions
    assert trainer.epsilon == pytest.approx(0.55)


def test_learning_rate_decays_linearly_over_env_steps() -> None:
    config = tiny_config(
        learning_rate=0.001, learning_rate_end=0.0001, learning_rate_decay_steps=3200
    )
    trainer = DQNTrainer(config, CPU, Path("unused"))
    run_steps(trainer, 100)  # 1,600 env steps: half way
    assert trainer.learning_rate == pytest.approx(0.00055)
    assert trainer.optimizer.param_groups[0]["lr"] == pytest.approx(0.00055, rel=0.02)
    run_steps(trainer, 200)
    assert trainer.learning_rate == pytest.approx(0.0001)


@pytest.mark.parametrize("epsilon", [0.0, 1.0])
def test_masked_actions_are_never_chosen(epsilon: float) -> None:
    config = tiny_config(epsilon={"start": epsilon, "end": epsilon, "decay_steps": 1})
    trainer = DQNTrainer(config, CPU, Path("unused"))
    replay = trainer.replay
    run_steps(trainer, 200)
    slots = replay.filled
    # The mask that applied to a stored transition is the next-mask of the one before it.
    masks = replay.next_masks[: slots - 1]
    actions = replay.actions[1:slots]
    continuing = ~replay.dones[: slots - 1]
    legal = masks.gather(2, actions.unsqueeze(2)).squeeze(2)
    assert bool(legal[continuing].all())


def test_same_seed_and_config_give_the_same_first_10000_steps() -> None:
    config = tiny_config(learning_starts=512)
    first, second = DQNTrainer(config, CPU, Path("a")), DQNTrainer(config, CPU, Path("b"))
    run_steps(first, 625)  # 625 batched steps x 16 worlds = 10,000 env steps
    run_steps(second, 625)
    assert first.env_step == 10_000 and first.update_step > 0
    assert_same_state(first, second)
    assert torch.equal(first.replay.actions, second.replay.actions)


@pytest.mark.parametrize("level", ["level_1_full_observability", "level_2_pomdp"])
def test_resume_continues_exactly_like_an_uninterrupted_run(tmp_path: Path, level: str) -> None:
    config = tiny_config(level, save_replay=True, learning_starts=512)
    uninterrupted = DQNTrainer(config, CPU, tmp_path / "a")
    run_steps(uninterrupted, 160)

    stopped = DQNTrainer(config, CPU, tmp_path / "b")
    run_steps(stopped, 80)
    path = stopped.save()
    resumed = DQNTrainer(config, CPU, tmp_path / "c")
    resumed.load_state_dict(load_checkpoint(path))
    run_steps(resumed, 80)

    assert_same_state(uninterrupted, resumed)
    assert torch.equal(uninterrupted.replay.observations, resumed.replay.observations)


def test_a_checkpoint_describes_itself(tmp_path: Path) -> None:
    trainer = DQNTrainer(tiny_config(), CPU, tmp_path)
    run_steps(trainer, 40)
    state = load_checkpoint(trainer.save())
    assert state["format_version"] == 1
    assert state["model_args"] == {
        "kind": "mlp",
        "obs_dim": trainer.world.obs_dim,
        "num_actions": 6,
        "hidden_sizes": [32],
        "dueling": False,
    }
    assert state["config"]["training"]["num_envs"] == 16
    assert state["counters"]["env_step"] == 640
    assert "replay" not in state, "the replay buffer is saved only when the config asks"


def test_recurrent_learner_updates_on_sequences() -> None:
    trainer = DQNTrainer(tiny_config("level_3_temporal"), CPU, Path("unused"))
    before = [p.clone() for p in trainer.online.parameters()]
    run_steps(trainer, 60)
    assert trainer.update_step > 0
    assert any(
        not torch.equal(b, p) for b, p in zip(before, trainer.online.parameters(), strict=True)
    )


def test_curriculum_changes_the_world_the_agent_trains_in() -> None:
    curriculum = {
        "enabled": True,
        "window": 16,
        "advance_survival": 0.001,
        "retreat_survival": 0.0,
        "stages": [{"drain_scale": 0.2}, {"drain_scale": 1.0, "sparse_reward": True}],
    }
    trainer = DQNTrainer(tiny_config(curriculum=curriculum), CPU, Path("unused"))
    assert bool((trainer.world.drain_scale == 0.2).all())
    meters_before = trainer.world.meters[:, 0].clone()
    trainer.world.step(torch.full((16,), 5))  # everyone waits one tick
    assert torch.allclose(trainer.world.meters[:, 0], meters_before - 0.2 * 0.005)
    while trainer.curriculum.stage == 0:
        run_steps(trainer, 10)
    assert bool((trainer.world.drain_scale == 1.0).all())
    assert bool(trainer.world.sparse_reward.all())


def test_rnd_bonus_enters_the_stored_reward_once(tmp_path: Path) -> None:
    # No updates, so both trainers see the same worlds and take the same actions.
    rnd = {"enabled": True, "coefficient": 0.5, "learning_rate": 0.001, "anneal_survival": 10**6}
    with_bonus = DQNTrainer(tiny_config(rnd=rnd, learning_starts=10**9), CPU, tmp_path)
    plain = DQNTrainer(tiny_config(learning_starts=10**9), CPU, tmp_path)
    run_steps(with_bonus, 20)
    run_steps(plain, 20)
    assert torch.equal(with_bonus.replay.actions, plain.replay.actions)
    bonus = with_bonus.replay.rewards[:20] - plain.replay.rewards[:20]
    assert bool((bonus > 0).all())
    # The bonus is normalised to a mean near 1, so once-weighted it averages near 0.5.
    assert float(bonus.mean()) == pytest.approx(0.5, rel=0.3)


def test_checkpoints_play_a_moving_average_of_the_online_weights(tmp_path: Path) -> None:
    """Each update moves the played weights a share (1 - decay) of the way to the online ones;
    a checkpoint holds both, and live play and evaluation rebuild the averaged ones."""
    trainer = DQNTrainer(tiny_config(policy_average_decay=0.9), CPU, tmp_path)
    run_steps(trainer, 20)  # replay fills; updates start after learning_starts
    assert trainer.update_step > 0
    before = [p.clone() for p in trainer.policy.parameters()]
    trainer.update()
    for old, new, online in zip(
        before, trainer.policy.parameters(), trainer.online.parameters(), strict=True
    ):
        assert torch.allclose(new, 0.9 * old + 0.1 * online, atol=1e-6)
    assert not torch.equal(before[0], next(trainer.policy.parameters()))

    state = load_checkpoint(trainer.save())
    played = policy_from_checkpoint(tmp_path / "x.pt", state, trainer.world.obs_dim).network
    for mine, rebuilt in zip(trainer.policy.parameters(), played.parameters(), strict=True):
        assert torch.equal(mine, rebuilt)
    online, averaged = state["online"], played_weights(state)
    assert any(not torch.equal(online[name], averaged[name]) for name in online)


def test_the_average_can_take_smaller_shares_as_the_learning_rate_falls(tmp_path: Path) -> None:
    """Followed by the learning rate, an update's share is (1 - decay) * lr / learning_rate:
    a quarter of it once the rate has fallen to a quarter."""
    config = tiny_config(
        policy_average_decay=0.9,
        policy_average_follows_learning_rate=True,
        learning_rate=0.0004,
        learning_rate_end=0.0001,
        learning_rate_decay_steps=64,
    )
    trainer = DQNTrainer(config, CPU, tmp_path)
    run_steps(trainer, 20)  # 320 env steps: past the decay, the rate is at its end
    assert trainer.learning_rate == pytest.approx(0.0001)
    before = [p.clone() for p in trainer.policy.parameters()]
    trainer.update()
    for old, new, online in zip(
        before, trainer.policy.parameters(), trainer.online.parameters(), strict=True
    ):
        assert torch.allclose(new, 0.975 * old + 0.025 * online, atol=1e-6)


def test_without_averaging_the_online_weights_are_played(tmp_path: Path) -> None:
    trainer = DQNTrainer(tiny_config(policy_average_decay=0.0), CPU, tmp_path)
    run_steps(trainer, 20)
    assert trainer.policy is trainer.online
    state = load_checkpoint(trainer.save())
    played = played_weights(state)
    assert all(torch.equal(played[name], value) for name, value in state["online"].items())


def test_replay_keeps_the_legal_actions_of_each_observation(tmp_path: Path) -> None:
    """Exploring picks only legal actions, so every stored action is legal under the mask
    stored beside its observation; some actions are illegal somewhere (walls, closed doors)."""
    trainer = DQNTrainer(tiny_config(), CPU, tmp_path)
    run_steps(trainer, 40)
    batch = trainer.replay.sample(512, 1, 0.99, trainer.generator)
    assert batch.masks.gather(1, batch.actions.unsqueeze(1)).all()
    assert not batch.masks.all()


def test_advantage_learning_measures_the_gap_to_the_best_legal_action(tmp_path: Path) -> None:
    """The gap subtracted from targets is zero for the best legal action and counts only
    legal ones: an illegal INTERACT valued far above the rest never becomes the best."""
    trainer = DQNTrainer(tiny_config(advantage_learning=0.5), CPU, tmp_path)
    run_steps(trainer, 40)
    with torch.no_grad():
        trainer.target.advantage.bias[INTERACT] += 1000.0
    batch = trainer.replay.sample(512, 1, 0.99, trainer.generator)
    gap = trainer._target_advantage_gap(batch)
    with torch.no_grad():
        q = trainer.target(batch.observations)
    interact_legal = batch.masks[:, INTERACT]
    assert (~interact_legal).any() and interact_legal.any()
    # Where INTERACT is illegal, its inflated value is ignored: gaps stay small.
    assert gap[~interact_legal].max() < 100.0
    # Where it is legal, every other action is ~1000 below the best.
    others = interact_legal & (batch.actions != INTERACT)
    assert others.any()
    assert gap[others].min() > 900.0
    best = q.masked_fill(~batch.masks, float("-inf")).argmax(dim=1)
    assert torch.all(gap[batch.actions == best] == 0.0)


def test_advantage_learning_lowers_each_target_by_its_share_of_the_gap(tmp_path: Path) -> None:
    trainer = DQNTrainer(tiny_config(advantage_learning=0.5), CPU, tmp_path)
    run_steps(trainer, 40)
    batch = trainer.replay.sample(512, 3, 0.99, trainer.generator)
    lowered = trainer._feed_forward_targets(batch)
    gap = trainer._target_advantage_gap(batch)
    trainer.settings = trainer.settings.model_copy(update={"advantage_learning": 0.0})
    plain = trainer._feed_forward_targets(batch)
    assert (gap > 0).any()
    assert torch.allclose(lowered, plain - 0.5 * gap, atol=1e-5)


def test_a_polyak_target_moves_its_share_toward_the_online_weights_each_update(
    tmp_path: Path,
) -> None:
    trainer = DQNTrainer(tiny_config(target_update_tau=0.25), CPU, tmp_path)
    run_steps(trainer, 20)
    before = [p.clone() for p in trainer.target.parameters()]
    trainer.update()
    for old, new, online in zip(
        before, trainer.target.parameters(), trainer.online.parameters(), strict=True
    ):
        assert torch.allclose(new, 0.75 * old + 0.25 * online, atol=1e-6)
    assert not all(
        torch.equal(t, o)
        for t, o in zip(trainer.target.parameters(), trainer.online.parameters(), strict=True)
    )


def test_a_replay_saved_before_masks_were_kept_still_resumes(tmp_path: Path) -> None:
    """Checkpoints with a saved replay from before it kept each observation's legal actions
    resume; those stored observations count every action as legal."""
    trainer = DQNTrainer(tiny_config(save_replay=True), CPU, tmp_path / "old")
    run_steps(trainer, 40)
    state = load_checkpoint(trainer.save())
    del state["replay"]["masks"]
    resumed = DQNTrainer(tiny_config(save_replay=True), CPU, tmp_path / "new")
    resumed.replay.load_state_dict(state["replay"])
    assert resumed.replay.masks.all()
    assert torch.equal(resumed.replay.observations, trainer.replay.observations)
    run_steps(resumed, 5)


def test_a_run_shorter_than_a_report_period_still_records_where_it_ended(tmp_path: Path) -> None:
    config = tiny_config(total_episodes=40)
    config = config.model_copy(
        update={"logging": config.logging.model_copy(update={"tensorboard_every_seconds": 3600.0})}
    )
    metrics = RecordLog(tmp_path / "metrics.jsonl", MetricPoint)
    trainer = DQNTrainer(config, CPU, tmp_path / "checkpoints", metrics=metrics)
    trainer.run(threading.Event())

    points = metrics.read_all()
    assert points, "a finished run wrote no metrics"
    assert points[-1].env_step == trainer.env_step
    assert points[-1].training_survival is not None

"""Level 1 mechanics against the numbers in WORLD.md, worked out by hand."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from townlet.config import RewardConfig, WorldConfig, load_config
from townlet.world import ACTION_NAMES, METER_NAMES, DeathCause, MeterNames, VectorWorld
from townlet.world.baselines import evaluate, random_policy, wait_policy

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LEVEL_1 = load_config(CONFIGS / "level_1_full_observability.yaml")
A = {name: i for i, name in enumerate(ACTION_NAMES)}
M = {name: i for i, name in enumerate(MeterNames)}
INITIAL = {
    "energy": 1.0,
    "hygiene": 1.0,
    "satiation": 1.0,
    "money": 0.5,
    "mood": 1.0,
    "social": 1.0,
    "health": 1.0,
    "fitness": 1.0,
}


def make_world(
    n: int = 1,
    world: WorldConfig | None = None,
    reward: RewardConfig | None = None,
    seed: int = 0,
    **world_changes: object,
) -> VectorWorld:
    cfg = (world or LEVEL_1.world).model_copy(update=world_changes)
    return VectorWorld(cfg, reward or LEVEL_1.reward, n, seed=seed)


def place(world: VectorWorld, x: int, y: int, env: int = 0, **meters: float) -> None:
    """Put the agent at (x, y) with the given meters (others unchanged) and refresh."""
    world.positions[env] = torch.tensor([x, y])
    for name, value in meters.items():
        world.meters[env, M[name]] = value
    world.refresh()


def act(world: VectorWorld, action: str):
    return world.step(torch.full((world.num_envs,), A[action], dtype=torch.long))


def meters_of(world: VectorWorld, env: int = 0) -> dict[str, float]:
    return dict(zip(MeterNames, world.meters[env].tolist(), strict=True))


def approx(expected: dict[str, float]) -> object:
    return pytest.approx(expected, abs=1e-6)


def test_public_names() -> None:
    assert METER_NAMES == MeterNames == tuple(INITIAL)
    assert ACTION_NAMES == ("UP", "DOWN", "LEFT", "RIGHT", "INTERACT", "WAIT")
    assert str(DeathCause.ENERGY) == "energy" and DeathCause.STEP_CAP.label == "step_cap"


def test_reset_gives_initial_meters_and_a_cell_on_the_grid() -> None:
    world = make_world(64)
    assert world.meters.tolist() == [list(INITIAL.values())] * 64
    assert world.positions.min() >= 0 and world.positions.max() <= 7
    assert len({tuple(p) for p in world.positions.tolist()}) > 10  # random start cells


def test_one_wait_tick_drains_exactly() -> None:
    world = make_world()
    place(world, 3, 4)  # no affordance at (3, 4)
    act(world, "WAIT")
    expected = {
        "energy": 1.0 - 0.005,
        "hygiene": 1.0 - 0.003,
        "satiation": 1.0 - 0.004,
        "money": 0.5,
        "mood": 1.0 - 0.001,
        "social": 1.0 - 0.006,
        "health": 1.0 - 0.001 * (0.5 + 2.5 * (1 - 1.0)),
        "fitness": 1.0 - 0.002,
    }
    assert meters_of(world) == approx(expected)


def test_low_fitness_makes_health_drain_faster() -> None:
    world = make_world()
    place(world, 3, 4, fitness=0.2, health=0.8)
    act(world, "WAIT")
    # health drain uses fitness before this tick's drain: 0.001 * (0.5 + 2.5 * 0.8) = 0.0025
    assert meters_of(world)["health"] == pytest.approx(0.8 - 0.0025, abs=1e-6)


def test_a_move_costs_energy_hygiene_satiation_on_top_of_drain() -> None:
    world = make_world()
    place(world, 3, 4)
    act(world, "RIGHT")
    assert world.positions[0].tolist() == [4, 4]
    got = meters_of(world)
    assert got["energy"] == pytest.approx(1.0 - 0.005 - 0.005, abs=1e-6)
    assert got["hygiene"] == pytest.approx(1.0 - 0.003 - 0.003, abs=1e-6)
    assert got["satiation"] == pytest.approx(1.0 - 0.004 - 0.004, abs=1e-6)
    act(world, "UP")
    assert world.positions[0].tolist() == [4, 3]  # UP is y - 1


def test_cascade_below_threshold_by_hand() -> None:
    world = make_world()
    place(world, 3, 4, satiation=0.15)
    world.drain_scale.zero_()  # isolate the cascade from passive drain
    act(world, "WAIT")
    deficit = (0.3 - 0.15) / 0.3
    got = meters_of(world)
    assert got["health"] == pytest.approx(1.0 - 0.004 * deficit, abs=1e-6)
    assert got["energy"] == pytest.approx(1.0 - 0.005 * deficit, abs=1e-6)
    assert got["satiation"] == pytest.approx(0.15, abs=1e-6)  # nothing drags satiation here
    assert got["hygiene"] == pytest.approx(1.0, abs=1e-6)


def test_cascades_read_the_meters_after_drain() -> None:
    world = make_world()
    place(world, 3, 4, satiation=0.15, hygiene=0.2)
    act(world, "WAIT")
    sat, hyg = 0.15 - 0.004, 0.2 - 0.003  # after passive drain
    d_sat, d_hyg = (0.3 - sat) / 0.3, (0.3 - hyg) / 0.3
    got = meters_of(world)
    assert got["energy"] == pytest.approx(1 - 0.005 - 0.005 * d_sat - 0.0005 * d_hyg, abs=1e-6)
    assert got["health"] == pytest.approx(1 - 0.0005 - 0.004 * d_sat - 0.0005 * d_hyg, abs=1e-6)
    # simultaneous: satiation's own drag from hygiene does not feed satiation's cascades
    assert got["satiation"] == pytest.approx(sat - 0.002 * d_hyg, abs=1e-6)
    assert got["mood"] == pytest.approx(1 - 0.001 - 0.003 * d_hyg, abs=1e-6)
    assert got["fitness"] == pytest.approx(1 - 0.002 - 0.002 * d_hyg, abs=1e-6)


def test_bed_pays_cost_and_effect_then_clamps() -> None:
    world = make_world()
    place(world, 1, 1, energy=0.7, health=0.5)
    assert world.snapshot(0)["standing_on"] == "Bed"
    act(world, "INTERACT")
    got = meters_of(world)
    assert got["money"] == pytest.approx(0.5 - 0.05, abs=1e-6)
    assert got["energy"] == pytest.approx(1.0 - 0.005, abs=1e-6)  # 0.7 + 0.5 clamps to 1
    assert got["health"] == pytest.approx(0.5 + 0.02 - 0.0005, abs=1e-6)


def test_job_earns_money() -> None:
    world = make_world()
    place(world, 6, 6, money=0.1)
    act(world, "INTERACT")
    got = meters_of(world)
    assert got["money"] == pytest.approx(0.1 + 0.225, abs=1e-6)
    assert got["energy"] == pytest.approx(1.0 - 0.15 - 0.005, abs=1e-6)


def test_masks_at_the_edges() -> None:
    world = make_world()
    place(world, 0, 0)
    assert world.action_masks[0].tolist() == [False, True, False, True, False, True]
    place(world, 7, 7)
    assert world.action_masks[0].tolist() == [True, False, True, False, False, True]


def test_unaffordable_affordance_cannot_be_used() -> None:
    world = make_world()
    place(world, 6, 1, money=0.02)  # Hospital costs $15
    assert not world.action_masks[0, A["INTERACT"]]
    place(world, 6, 1, money=0.15)  # exactly enough
    assert world.action_masks[0, A["INTERACT"]]
    place(world, 6, 6, money=0.0)  # Job is free
    assert world.action_masks[0, A["INTERACT"]]


def test_death_at_zero_energy_terminates_and_resets() -> None:
    world = make_world(2)
    place(world, 0, 0, env=0, energy=0.004)
    place(world, 3, 4, env=1)
    result = act(world, "WAIT")
    assert result.dones.tolist() == [True, False]
    assert result.terminated.tolist() == [True, False]
    assert result.death_causes[0] == DeathCause.ENERGY
    assert result.death_causes[1] == DeathCause.ALIVE
    assert result.episode_lengths[0] == 1
    assert result.rewards[0] == 0.0  # death tick pays death_penalty (0) only
    assert meters_of(world, 0) == approx(INITIAL)  # auto-reset
    assert world.snapshot(0)["step"] == 0
    # next_observations keeps the final state: energy empty
    energy_col = world.obs_spec.meters.start + M["energy"]
    assert world.next_observations[0, energy_col] == 0.0
    assert world.observations[0, energy_col] == 1.0
    # ... and so do next_action_masks and last_snapshot (what the live player shows)
    corner_mask = [False, True, False, True, False, True]
    assert world.next_action_masks[0].tolist() == corner_mask
    last = world.last_snapshot(0)
    assert (last["x"], last["y"], last["step"]) == (0, 0, 1)
    assert last["meters"]["energy"] == 0.0 and last["action_mask"] == corner_mask
    assert torch.equal(world.next_action_masks[1], world.action_masks[1])


def test_death_at_zero_health_names_health() -> None:
    world = make_world()
    place(world, 3, 4, health=0.002, fitness=0.0)  # drain 0.001 * 3.0 = 0.003
    result = act(world, "WAIT")
    assert result.terminated[0] and result.death_causes[0] == DeathCause.HEALTH


def test_step_cap_truncates_without_terminating() -> None:
    world = make_world(3, step_cap=5)
    for _ in range(4):
        assert not act(world, "WAIT").dones.any()
    result = act(world, "WAIT")
    assert result.dones.all() and not result.terminated.any()
    assert (result.death_causes == DeathCause.STEP_CAP).all()
    assert (result.episode_lengths == 5).all()


def test_wellbeing_reward_pays_less_for_each_meter_below_the_cascade_threshold() -> None:
    world = make_world(2)
    place(world, 3, 4, env=0)
    place(world, 3, 4, env=1, satiation=0.15, social=0.06)
    rewards = act(world, "WAIT").rewards
    assert rewards[0] == pytest.approx(1.0)
    # after the tick: satiation 0.146 and social 0.054 (drain), every other meter above 0.3
    expected = (6 + (0.15 - 0.004) / 0.3 + (0.06 - 0.006) / 0.3) / 8
    assert rewards[1] == pytest.approx(expected, abs=1e-5)


def test_reward_is_energy_times_health_and_death_penalty() -> None:
    reward = RewardConfig(per_tick="energy_x_health", alive_bonus=0.1, death_penalty=-2.0)
    world = make_world(2, reward=reward)
    place(world, 3, 4, env=0, energy=0.5, health=0.8)
    place(world, 3, 4, env=1, energy=0.001)
    result = act(world, "WAIT")
    assert result.rewards[0] == pytest.approx(0.495 * 0.7995 + 0.1, abs=1e-6)
    assert result.rewards[1] == pytest.approx(-2.0)
    assert result.episode_returns[1] == pytest.approx(-2.0)


def test_constant_reward() -> None:
    world = make_world(reward=RewardConfig(per_tick="constant"))
    assert act(world, "WAIT").rewards[0] == 1.0


def test_sparse_reward_pays_only_at_the_cap() -> None:
    world = make_world(2, reward=RewardConfig(death_penalty=-1.0), step_cap=3)
    world.sparse_reward.fill_(True)
    place(world, 3, 4, env=1, energy=0.008)  # dies on the second tick
    rewards = [act(world, "WAIT").rewards.tolist() for _ in range(3)]
    assert rewards[0] == [0.0, 0.0]
    assert rewards[1] == [0.0, -1.0]
    assert rewards[2][0] == 1.0


def test_drain_scale_scales_passive_drain() -> None:
    world = make_world(2)
    world.drain_scale[1] = 0.5
    place(world, 3, 4, env=0)
    place(world, 3, 4, env=1)
    act(world, "WAIT")
    assert meters_of(world, 1)["social"] == pytest.approx(1 - 0.003, abs=1e-6)
    assert meters_of(world, 1)["health"] == pytest.approx(1 - 0.00025, abs=1e-6)
    assert meters_of(world, 0)["social"] == pytest.approx(1 - 0.006, abs=1e-6)


def test_always_wait_survives_exactly_191() -> None:
    result = evaluate(LEVEL_1.world, LEVEL_1.reward, wait_policy, 16, 500, seed=3)
    assert result["survival"] == [191] * 16


def test_random_legal_actions_survive_about_112() -> None:
    result = evaluate(LEVEL_1.world, LEVEL_1.reward, random_policy, 400, 500, seed=0)
    assert 90 <= result["mean"] <= 140
    assert result["p2_5"] < result["median"] < result["p97_5"]


def test_full_observation_layout() -> None:
    world = make_world()
    assert world.obs_dim == 64 + 28 + 8 + 15 == 115
    place(world, 2, 3, money=0.25)
    obs = world.observations[0]
    assert obs[:64].nonzero().flatten().tolist() == [3 * 8 + 2]
    # Bed at (1, 1): offset (-1/8, -2/8); Park (index 13) at (0, 4): (-2/8, 1/8)
    assert obs[64:66].tolist() == pytest.approx([-1 / 8, -2 / 8])
    assert obs[64 + 26 : 64 + 28].tolist() == pytest.approx([-2 / 8, 1 / 8])
    assert obs[92:100].tolist() == pytest.approx(world.meters[0].tolist())
    assert obs[92 + M["money"]] == pytest.approx(0.25)
    assert obs[100:].tolist() == [0.0] * 14 + [1.0]  # standing on nothing
    place(world, 2, 2)  # Shower, affordance index 2
    assert world.observations[0, 100:].nonzero().flatten().tolist() == [2]


def test_same_seed_same_trajectory_other_seed_differs() -> None:
    runs = []
    for seed in (7, 7, 8):
        world = make_world(32, seed=seed)
        trace = []
        for _ in range(250):
            result = world.step(random_policy(world))
            trace.append((world.observations.clone(), result.rewards.clone()))
        runs.append(trace)

    def same(a: list, b: list) -> bool:
        return all(
            torch.equal(x[0], y[0]) and torch.equal(x[1], y[1]) for x, y in zip(a, b, strict=True)
        )

    assert same(runs[0], runs[1])
    assert not same(runs[0], runs[2])


def test_reset_with_seed_repeats_the_episode() -> None:
    world = make_world(8)
    world.reset(seed=11)
    first = world.observations.clone()
    for _ in range(10):
        world.step(random_policy(world))
    world.reset(seed=11)
    assert torch.equal(world.observations, first)


def test_state_dict_resumes_exactly() -> None:
    world = make_world(16, seed=2)
    for _ in range(120):
        world.step(random_policy(world))
    state = world.state_dict()
    clone = make_world(16, seed=99)
    clone.load_state_dict(state)
    assert torch.equal(clone.observations, world.observations)
    for _ in range(200):
        a, b = world.step(random_policy(world)), clone.step(random_policy(clone))
        assert torch.equal(a.rewards, b.rewards) and torch.equal(a.dones, b.dones)
    assert torch.equal(world.observations, clone.observations)
    with pytest.raises(ValueError, match="num_envs"):
        make_world(4).load_state_dict(state)


def test_snapshot_is_plain_python() -> None:
    world = make_world()
    place(world, 1, 1)
    snap = world.snapshot(0)
    assert snap == {
        "x": 1,
        "y": 1,
        "meters": pytest.approx(INITIAL),
        "step": 0,
        "time_of_day": None,
        "interaction_progress": None,
        "standing_on": "Bed",
        "action_mask": [True, True, True, True, True, True],
    }
    assert world.layout(0)[0] == ("Bed", 1, 1) and len(world.layout(0)) == 14


def test_refresh_rejects_positions_off_the_grid() -> None:
    world = make_world()
    world.positions[0, 0] = 8
    with pytest.raises(ValueError, match="8x8 grid"):
        world.refresh()

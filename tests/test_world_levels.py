"""Levels 2 and 3 and randomised layouts: the window, the clock, multi-tick interactions."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from townlet.config import WorldConfig, load_config
from townlet.world import ACTION_NAMES, MeterNames, VectorWorld
from townlet.world.baselines import random_policy

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LEVEL_1 = load_config(CONFIGS / "level_1_full_observability.yaml")
LEVEL_2 = load_config(CONFIGS / "level_2_pomdp.yaml")
LEVEL_3 = load_config(CONFIGS / "level_3_temporal.yaml")
A = {name: i for i, name in enumerate(ACTION_NAMES)}
M = {name: i for i, name in enumerate(MeterNames)}
NUM_AFF = 14
OFF_GRID = NUM_AFF  # window channel for cells off the grid


def make_world(cfg: WorldConfig, n: int = 1, seed: int = 0, **changes: object) -> VectorWorld:
    return VectorWorld(cfg.model_copy(update=changes), LEVEL_1.reward, n, seed=seed)


def place(world: VectorWorld, x: int, y: int, env: int = 0, **meters: float) -> None:
    world.positions[env] = torch.tensor([x, y])
    for name, value in meters.items():
        world.meters[env, M[name]] = value
    world.refresh()


def act(world: VectorWorld, action: str, env_actions: dict[int, str] | None = None):
    actions = torch.full((world.num_envs,), A[action], dtype=torch.long)
    for env, name in (env_actions or {}).items():
        actions[env] = A[name]
    return world.step(actions)


def window_channels(world: VectorWorld, env: int = 0) -> list[int | None]:
    """Per window slot (row-major, top-left first): the one-hot channel, or None if empty."""
    w = world.cfg.vision_window
    cells = world.observations[env, : w * w * (NUM_AFF + 1)].reshape(w * w, NUM_AFF + 1)
    assert ((cells == 0) | (cells == 1)).all() and (cells.sum(1) <= 1).all()
    return [int(row.argmax()) if row.any() else None for row in cells]


# ---------------------------------------------------------------- level 2: partial view


def test_level_2_observation_size() -> None:
    world = make_world(LEVEL_2.world)
    assert world.obs_dim == 25 * 15 + 2 + 8 + 15 == 400
    assert make_world(LEVEL_2.world, vision_window=3).obs_dim == 9 * 15 + 2 + 8 + 15


def test_level_2_window_at_the_top_left_corner() -> None:
    world = make_world(LEVEL_2.world)
    place(world, 0, 0)
    channels = window_channels(world)
    off_grid = {s for s in range(25) if s // 5 < 2 or s % 5 < 2}
    for slot, channel in enumerate(channels):
        if slot in off_grid:
            assert channel == OFF_GRID, slot
    # agent in slot 12; Bed (1,1) -> slot 18, LuxuryBed (2,1) -> 19, Shower (2,2) -> 24
    assert channels[18] == 0 and channels[19] == 1 and channels[24] == 2
    assert [channels[s] for s in (12, 13, 14, 17, 22, 23)] == [None] * 6
    head = 25 * 15
    assert world.observations[0, head : head + 2].tolist() == [0.0, 0.0]
    assert world.observations[0, head + 2 : head + 10].tolist() == pytest.approx(
        world.meters[0].tolist()
    )


def test_level_2_window_on_an_affordance_and_position() -> None:
    world = make_world(LEVEL_2.world)
    place(world, 7, 0)  # on the Bar (index 9), top-right corner
    channels = window_channels(world)
    assert channels[12] == 9
    assert all(channels[s] == OFF_GRID for s in range(25) if s // 5 < 2 or s % 5 > 2)
    head = 25 * 15
    assert world.observations[0, head : head + 2].tolist() == [1.0, 0.0]
    standing = world.observations[0, head + 10 : head + 25]
    assert standing.nonzero().flatten().tolist() == [9]


# ---------------------------------------------------------------- level 3: time


def test_level_3_observation_has_clock_and_progress() -> None:
    world = make_world(LEVEL_3.world)
    assert world.obs_dim == 403
    place(world, 3, 4)
    hour = 8.0
    angle = 2 * math.pi * hour / 24
    assert world.observations[0, -3:].tolist() == pytest.approx(
        [math.sin(angle), math.cos(angle), 0.0], abs=1e-6
    )
    assert world.snapshot(0)["time_of_day"] == 8.0
    act(world, "WAIT")
    assert world.snapshot(0)["time_of_day"] == 9.0


@pytest.mark.parametrize(
    ("step", "hour", "doctor_open"),
    [(0, 8, True), (2, 10, True), (9, 17, True), (10, 18, False), (12, 20, False), (23, 7, False)],
)
def test_doctor_opening_hours(step: int, hour: int, doctor_open: bool) -> None:
    world = make_world(LEVEL_3.world)
    place(world, 5, 1)  # Doctor, open [8, 18)
    world.set_time(0, step)
    assert world.snapshot(0)["time_of_day"] == hour
    assert bool(world.action_masks[0, A["INTERACT"]]) is doctor_open


@pytest.mark.parametrize(("step", "bar_open"), [(10, True), (15, True), (18, True), (20, False)])
def test_bar_hours_wrap_past_midnight(step: int, bar_open: bool) -> None:
    world = make_world(LEVEL_3.world)
    place(world, 7, 0)  # Bar, open [18, 4)
    world.set_time(0, step)  # hours 18, 23, 2, 4
    assert bool(world.action_masks[0, A["INTERACT"]]) is bar_open


def test_opening_hours_are_ignored_without_temporal() -> None:
    world = make_world(LEVEL_2.world)
    place(world, 5, 1)
    world.set_time(0, 12)
    assert world.action_masks[0, A["INTERACT"]]


def test_multi_tick_bed_pays_per_tick_then_bonus() -> None:
    world = make_world(LEVEL_3.world)
    place(world, 1, 1, energy=0.2)
    per_tick, bonus, drain = 0.75 * 0.5 / 5, 0.25 * 0.5, 0.005
    energy = 0.2
    for tick in range(1, 6):
        act(world, "INTERACT")
        energy += per_tick - drain + (bonus if tick == 5 else 0.0)
        assert world.meters[0, M["energy"]] == pytest.approx(energy, abs=1e-5)
        assert world.meters[0, M["money"]] == pytest.approx(0.45, abs=1e-6)  # paid once
        progress = tick % 5
        # The page's "interacting 40%": a share of the bed's 5 ticks, as the agent sees it.
        assert world.snapshot(0)["interaction_progress"] == pytest.approx(progress / 5)
        assert world.observations[0, -1] == pytest.approx(progress / 5)
    act(world, "INTERACT")  # a new interaction starts and pays again
    assert world.meters[0, M["money"]] == pytest.approx(0.40, abs=1e-6)


def test_walking_away_forfeits_the_bonus() -> None:
    world = make_world(LEVEL_3.world, n=2)
    place(world, 1, 1, env=0, energy=0.2)
    place(world, 1, 1, env=1, energy=0.2)
    act(world, "INTERACT")
    act(world, "INTERACT")
    act(world, "INTERACT", {1: "WAIT"})  # world 1 stops after two ticks
    assert world.snapshot(1)["interaction_progress"] == 0
    act(world, "INTERACT", {1: "RIGHT"})
    act(world, "INTERACT", {1: "LEFT"})
    per_tick, bonus, drain = 0.75 * 0.5 / 5, 0.25 * 0.5, 0.005
    finished = 0.2 + 5 * (per_tick - drain) + bonus
    stopped = 0.2 + 2 * (per_tick - drain) - drain - 2 * (drain + 0.005)
    assert world.meters[0, M["energy"]] == pytest.approx(finished, abs=1e-5)
    assert world.meters[1, M["energy"]] == pytest.approx(stopped, abs=1e-5)
    act(world, "INTERACT")  # world 1 starts over and pays again
    assert world.meters[1, M["money"]] == pytest.approx(0.40, abs=1e-6)


def test_an_interaction_under_way_continues_when_money_runs_out() -> None:
    world = make_world(LEVEL_3.world)
    place(world, 1, 1, money=0.05)
    act(world, "INTERACT")
    assert world.meters[0, M["money"]] == pytest.approx(0.0, abs=1e-6)
    assert world.action_masks[0, A["INTERACT"]]
    for _ in range(4):
        act(world, "INTERACT")
    assert world.snapshot(0)["interaction_progress"] == 0
    assert not world.action_masks[0, A["INTERACT"]]  # now it is a new, unaffordable start


def test_an_interaction_under_way_continues_past_closing() -> None:
    world = make_world(LEVEL_3.world)
    place(world, 5, 1, health=0.5)
    world.set_time(0, 9)  # hour 17; the Doctor closes at 18
    act(world, "INTERACT")
    assert world.snapshot(0)["time_of_day"] == 18.0
    assert world.action_masks[0, A["INTERACT"]]
    act(world, "INTERACT")
    # 0.75 * 0.25 spread over 2 ticks, plus the 0.25 * 0.25 bonus, minus 2 ticks of drain
    assert world.meters[0, M["health"]] == pytest.approx(0.5 + 0.25 - 2 * 0.0005, abs=1e-5)


# ---------------------------------------------------------------- randomised layouts


def test_randomised_layout_uses_distinct_cells_and_changes_on_reset() -> None:
    world = make_world(LEVEL_1.world, n=64, seed=5, randomize_layout=True)
    before = [world.layout(env) for env in range(64)]
    for layout in before:
        assert len({(x, y) for _, x, y in layout}) == NUM_AFF
        assert all(0 <= x < 8 and 0 <= y < 8 for _, x, y in layout)
    assert len({tuple(layout) for layout in before}) == 64
    for _ in range(191):  # always-WAIT: every world dies on the same tick
        act(world, "WAIT")
    after = [world.layout(env) for env in range(64)]
    assert sum(a != b for a, b in zip(before, after, strict=True)) >= 60


def test_randomised_layout_shows_in_the_observation_and_mechanics() -> None:
    world = make_world(LEVEL_1.world, n=4, seed=1, randomize_layout=True)
    name, bx, by = world.layout(2)[0]
    assert name == "Bed"
    place(world, bx, by, env=2, energy=0.3)
    obs = world.observations[2]
    for i, (_, x, y) in enumerate(world.layout(2)):
        assert obs[64 + 2 * i : 66 + 2 * i].tolist() == pytest.approx([(x - bx) / 8, (y - by) / 8])
    assert world.snapshot(2)["standing_on"] == "Bed"
    assert world.action_masks[2, A["INTERACT"]]
    act(world, "INTERACT")
    assert world.meters[2, M["energy"]] == pytest.approx(0.3 + 0.5 - 0.005, abs=1e-6)


@pytest.mark.parametrize("level", [LEVEL_1, LEVEL_2, LEVEL_3])
def test_randomised_path_matches_fixed_path_on_the_default_layout(level) -> None:
    fixed = make_world(level.world, n=16, seed=4)
    moving = make_world(level.world, n=16, seed=4, randomize_layout=True)
    moving.affordance_cells.copy_(fixed.affordance_cells)
    moving.positions.copy_(fixed.positions)
    moving.refresh()
    for _ in range(40):
        assert torch.equal(moving.observations, fixed.observations)
        assert torch.equal(moving.action_masks, fixed.action_masks)
        actions = random_policy(fixed).clone()
        a, b = fixed.step(actions), moving.step(actions)
        assert torch.equal(a.rewards, b.rewards)
        if a.dones.any():
            break
        assert torch.equal(moving.meters, fixed.meters)

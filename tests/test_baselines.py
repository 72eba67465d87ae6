"""Baseline policies: legality, the table trick, and the survival each one reaches."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest
import torch

from townlet.config import load_config
from townlet.world import ACTION_NAMES, VectorWorld
from townlet.world.baselines import (
    RandomLegalActions,
    ScriptedPolicy,
    evaluate,
    random_action_table,
    random_policy,
    scripted_policy,
    wait_policy,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LEVELS = {
    name: load_config(CONFIGS / f"{name}.yaml")
    for name in ("level_1_full_observability", "level_2_pomdp", "level_3_temporal")
}
LEVEL_1 = LEVELS["level_1_full_observability"]
LEVEL_3 = LEVELS["level_3_temporal"]
A = {name: i for i, name in enumerate(ACTION_NAMES)}


def test_random_action_table_is_uniform_over_legal_actions() -> None:
    table = random_action_table().view(64, 60)
    for bits in range(1, 64):
        legal = {a for a in range(6) if bits >> a & 1}
        counts = Counter(table[bits].tolist())
        assert set(counts) == legal
        assert set(counts.values()) == {60 // len(legal)}


def test_random_policy_picks_only_legal_actions_uniformly() -> None:
    world = VectorWorld(LEVEL_1.world, LEVEL_1.reward, 256, seed=0)
    for _ in range(150):
        actions = random_policy(world)
        assert world.action_masks.gather(1, actions.unsqueeze(1)).all()
        world.step(actions)
    world.positions.zero_()  # everyone at (0, 0): DOWN, RIGHT and WAIT are legal
    world.refresh()
    policy = RandomLegalActions(world, torch.Generator().manual_seed(1))
    counts = Counter()
    for _ in range(40):
        counts.update(policy(world).tolist())
    assert set(counts) == {A["DOWN"], A["RIGHT"], A["WAIT"]}
    share = [c / sum(counts.values()) for c in counts.values()]
    assert max(share) - min(share) < 0.05


@pytest.mark.parametrize("level", list(LEVELS))
def test_always_wait_survives_191_on_every_level(level: str) -> None:
    cfg = LEVELS[level]
    result = evaluate(cfg.world, cfg.reward, wait_policy, 8, 500, seed=0)
    assert result["survival"] == [191] * 8
    assert result["mean"] == result["median"] == result["p2_5"] == result["p97_5"] == 191


def test_evaluate_reports_first_episodes_and_respects_the_cap() -> None:
    result = evaluate(LEVEL_1.world, LEVEL_1.reward, random_policy, 50, 60, seed=2)
    assert set(result) == {"mean", "median", "p2_5", "p97_5", "survival"}
    assert len(result["survival"]) == 50
    assert max(result["survival"]) <= 60
    again = evaluate(LEVEL_1.world, LEVEL_1.reward, random_policy, 50, 60, seed=2)
    assert again == result  # seeded
    with pytest.raises(ValueError, match="step_cap"):
        evaluate(LEVEL_1.world, LEVEL_1.reward, random_policy, 5, 0)


def test_scripted_policy_never_dies_on_level_1_at_5000_ticks() -> None:
    result = evaluate(LEVEL_1.world, LEVEL_1.reward, scripted_policy, 48, 5000, seed=0)
    assert min(result["survival"]) == 5000


def test_scripted_policy_beats_wait_on_level_3() -> None:
    result = evaluate(LEVEL_3.world, LEVEL_3.reward, scripted_policy, 32, 1000, seed=0)
    assert result["mean"] > 900


def test_scripted_policy_only_takes_legal_actions() -> None:
    world = VectorWorld(LEVEL_3.world, LEVEL_3.reward, 64, seed=3)
    for _ in range(300):
        actions = scripted_policy(world)
        assert world.action_masks.gather(1, actions.unsqueeze(1)).all()
        world.step(actions)


def test_scripted_policy_needs_the_basic_affordances() -> None:
    world_cfg = LEVEL_1.world.model_copy(
        update={"affordances": [a for a in LEVEL_1.world.affordances if a.name != "Bed"]}
    )
    world = VectorWorld(world_cfg, LEVEL_1.reward, 2)
    with pytest.raises(ValueError, match="Bed"):
        ScriptedPolicy(world)

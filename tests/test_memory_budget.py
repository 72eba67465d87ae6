"""The memory check: configs that cannot fit are refused by arithmetic, before any allocation.

The estimate is held to real allocations here: replay exactly, the per-world tensors and a
whole trainer within a small factor, measured as the bytes of every distinct tensor storage
the objects hold.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

from townlet.config import ConfigError, TownletConfig, config_from_dict
from townlet.learner import memory_budget
from townlet.learner.memory_budget import (
    available_memory,
    check_memory_budget,
    estimate_memory,
    observation_size,
    replay_bytes_per_transition,
)
from townlet.learner.replay import TimeMajorReplay
from townlet.learner.trainer import DQNTrainer
from townlet.world import VectorWorld
from townlet.world.baselines import RandomLegalActions

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
LEVELS = ["level_1_full_observability", "level_2_pomdp", "level_3_temporal"]
GIB = 2**30
CPU = torch.device("cpu")


def level(name: str = LEVELS[0], **changes: dict[str, Any]) -> TownletConfig:
    """A level config with some sections updated, e.g. training={"num_envs": 8}."""
    data = yaml.safe_load((CONFIGS / f"{name}.yaml").read_text())
    data.setdefault("name", name)
    for section, values in changes.items():
        data[section].update(values)
    return config_from_dict(data, source="test.yaml")


@pytest.fixture
def free_memory(monkeypatch: pytest.MonkeyPatch):
    """Pretend the machine has `bytes` free, so messages and verdicts do not depend on it."""

    def pretend(free: int | None) -> None:
        monkeypatch.setattr(memory_budget, "available_memory", lambda device: free)

    return pretend


def storage_bytes(*roots: object) -> int:
    """Bytes of every distinct tensor storage reachable from `roots` (attributes, containers,
    module parameters and buffers, optimiser state), each counted once."""
    seen: dict[int, int] = {}
    visited: set[int] = set()

    def walk(obj: object, depth: int) -> None:
        if id(obj) in visited or depth > 6:
            return
        visited.add(id(obj))
        if isinstance(obj, torch.Tensor):
            storage = obj.untyped_storage()
            seen[storage.data_ptr()] = storage.nbytes()
        elif isinstance(obj, torch.nn.Module):
            for tensor in [*obj.parameters(), *obj.buffers()]:
                walk(tensor, depth + 1)
        elif isinstance(obj, torch.optim.Optimizer):
            for state in obj.state.values():
                walk(state, depth + 1)
        elif isinstance(obj, dict):
            for value in obj.values():
                walk(value, depth + 1)
        elif isinstance(obj, list | tuple):
            for value in obj:
                walk(value, depth + 1)
        elif hasattr(obj, "__dict__") and not isinstance(obj, type):
            for value in vars(obj).values():
                walk(value, depth + 1)

    for root in roots:
        walk(root, 0)
    return sum(seen.values())


# ---------------------------------------------------------------- the estimate


@pytest.mark.parametrize(
    "config",
    [
        level(LEVELS[0]),
        level(LEVELS[1]),
        level(LEVELS[2]),
        level(LEVELS[1], world={"vision_window": 3}),
        level(LEVELS[0], world={"randomize_layout": True, "width": 9, "height": 8}),
    ],
    ids=["level 1", "level 2", "level 3", "window 3", "randomised 9x8"],
)
def test_observation_size_matches_the_world(config: TownletConfig) -> None:
    world = VectorWorld(config.world, config.reward, 1)
    assert observation_size(config.world) == world.obs_dim


@pytest.mark.parametrize(("num_envs", "capacity"), [(64, 20_000), (256, 100), (7, 1000)])
def test_replay_estimate_is_exact(num_envs: int, capacity: int) -> None:
    config = level(training={"num_envs": num_envs, "replay_capacity": capacity, "batch_size": 1})
    obs_dim = observation_size(config.world)
    replay = TimeMajorReplay(capacity, num_envs, obs_dim, 6, CPU)
    assert estimate_memory(config).replay == storage_bytes(replay)
    assert replay_bytes_per_transition(obs_dim) == 946  # the level 1 figure in the YAML comment


@pytest.mark.parametrize(
    ("name", "world"),
    [(name, {}) for name in LEVELS] + [(LEVELS[0], {"randomize_layout": True})],
    ids=[*LEVELS, "randomised layout"],
)
def test_per_world_estimate_covers_what_a_world_holds(name: str, world: dict[str, Any]) -> None:
    """Worlds, the random policy and the trainer's per-world buffers, 1 world versus 257."""

    def held(num_envs: int) -> int:
        config = level(name, world=world)
        worlds = VectorWorld(config.world, config.reward, num_envs)
        hidden = 0
        if config.training.network.kind == "gru":
            hidden = torch.zeros(num_envs, config.training.network.hidden_sizes[0])
        before = torch.zeros_like(worlds.observations)  # DQNTrainer._observations_before
        return storage_bytes(worlds, RandomLegalActions(worlds), before, hidden)

    def estimated(num_envs: int) -> int:
        return estimate_memory(level(name, world=world, training={"num_envs": num_envs})).worlds

    measured = (held(257) - held(1)) / 256
    estimate = (estimated(257) - estimated(1)) / 256
    # Above the tensors held for good, by the activations of acting and a 25% allowance.
    assert measured <= estimate <= 3 * measured


def test_tables_estimate_covers_a_large_grid() -> None:
    config = level(world={"width": 40, "height": 40})
    world = VectorWorld(config.world, config.reward, 1)
    estimate = estimate_memory(config)
    one_copy = estimate.tables / 2  # on the CPU the live player builds the tables too
    assert storage_bytes(world) <= one_copy + estimate.worlds
    assert one_copy <= 4 * storage_bytes(world)


@pytest.mark.parametrize("name", LEVELS)
def test_estimate_is_close_to_what_a_real_trainer_allocates(name: str, tmp_path: Path) -> None:
    # A tenth of the shipped replay keeps the test quick; replay still dominates.
    config = level(name, training={"replay_capacity": 50_000})
    trainer = DQNTrainer(config, CPU, tmp_path)
    while not trainer.ready_to_learn():
        trainer.collect()
    trainer.update()  # Adam allocates its moments on the first step
    allocated = storage_bytes(trainer)
    estimate = estimate_memory(config)
    assert estimate.replay == storage_bytes(trainer.replay)
    assert allocated <= estimate.total - estimate.runtime <= 1.5 * allocated


# ---------------------------------------------------------------- the verdict


def test_shipped_configs_fit_and_the_check_is_fast(free_memory) -> None:
    free_memory(2 * GIB)
    for name in LEVELS:
        config = level(name)
        assert estimate_memory(config).total < GIB
        start = time.perf_counter()
        check_memory_budget(config, CPU)
        assert time.perf_counter() - start < 0.05


def test_shipped_configs_fit_this_machine() -> None:
    for name in LEVELS:
        check_memory_budget(level(name), CPU)


def test_a_billion_worlds_are_refused_with_the_numbers(free_memory) -> None:
    free_memory(16 * GIB)
    config = level(training={"num_envs": 1_000_000_000})
    start = time.perf_counter()
    with pytest.raises(ConfigError) as info:
        check_memory_budget(config, CPU, source="huge.yaml")
    assert time.perf_counter() - start < 0.05  # arithmetic only: nothing was allocated
    message = str(info.value)
    assert message.startswith("huge.yaml: training.num_envs: 1,000,000,000 worlds need ")
    asked = estimate_memory(config).total
    assert asked > 5 * 2**40
    assert f"asks for about {asked / 2**40:.1f} TiB" in message, message
    assert "16.0 GiB is free in RAM" in message
    assert "at most 80% of it (12.8 GiB)" in message
    assert [issue[0] for issue in info.value.issues] == ["training.num_envs"]
    suggested = int(re.search(r"use at most ([\d,]+) worlds", message)[1].replace(",", ""))
    assert 1_000_000 < suggested < 1_000_000_000
    check_memory_budget(level(training={"num_envs": suggested}), CPU)  # and it does fit


def test_a_huge_replay_buffer_is_refused_with_the_numbers(free_memory) -> None:
    free_memory(16 * GIB)
    config = level(training={"replay_capacity": 100_000_000_000})
    with pytest.raises(ConfigError) as info:
        check_memory_budget(config, CPU, source="huge.yaml")
    message = str(info.value)
    assert "training.replay_capacity: 100,000,000,000 transitions of 946 B need 86.0 TiB" in (
        message
    )
    assert "16.0 GiB is free in RAM" in message
    suggested = int(re.search(r"use at most ([\d,]+)", message)[1].replace(",", ""))
    assert 1_000_000 < suggested < 20_000_000
    check_memory_budget(level(training={"replay_capacity": suggested}), CPU)


def test_the_bug_report_configs_are_refused_on_this_machine() -> None:
    """Without pretending: no machine this runs on has terabytes free."""
    for training in ({"num_envs": 1_000_000_000}, {"replay_capacity": 100_000_000_000}):
        with pytest.raises(ConfigError, match="TiB"):
            check_memory_budget(level(training=training), CPU)


def test_a_huge_grid_names_the_grid(free_memory) -> None:
    free_memory(16 * GIB)
    with pytest.raises(ConfigError) as info:
        check_memory_budget(level(world={"width": 1000, "height": 1000}), CPU)
    message = str(info.value)
    assert "world.width: a 1,000x1,000 grid needs" in message
    side = int(re.search(r"grid of at most (\d+)x", message)[1])
    check_memory_budget(level(world={"width": side, "height": side}), CPU)


def test_two_causes_get_suggestions_that_fit_together(free_memory) -> None:
    free_memory(16 * GIB)
    config = level(training={"batch_size": 10**8, "replay_capacity": 10**8})
    with pytest.raises(ConfigError) as info:
        check_memory_budget(config, CPU)
    paths = [issue[0] for issue in info.value.issues]
    assert paths == ["training.batch_size", "training.replay_capacity"]
    fixes = [fix for _, _, fix in info.value.issues]
    values = [int(re.search(r"at most ([\d,]+)", fix)[1].replace(",", "")) for fix in fixes]
    check_memory_budget(
        level(training={"batch_size": values[0], "replay_capacity": values[1]}), CPU
    )


def test_nothing_to_lower_asks_for_memory(free_memory) -> None:
    free_memory(1)
    with pytest.raises(ConfigError) as info:
        check_memory_budget(level(), CPU)
    assert "free some memory or use a machine with more" in str(info.value)


def test_unknown_free_memory_skips_the_check(free_memory) -> None:
    free_memory(None)
    check_memory_budget(level(training={"num_envs": 10**12}), CPU)


# ---------------------------------------------------------------- free memory


def test_available_memory_on_this_machine() -> None:
    free = available_memory(CPU)
    assert free is not None and free > 0
    total = memory_budget._sysconf_available()
    assert total is not None and total > 0


def test_cuda_free_memory_comes_from_the_driver(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "mem_get_info", lambda device=None: (3 * GIB, 80 * GIB))
    cuda = torch.device("cuda")
    assert available_memory(cuda) == 3 * GIB
    with pytest.raises(ConfigError, match=r"3\.0 GiB is free on cuda, .* \(2\.4 GiB\)"):
        check_memory_budget(level(training={"num_envs": 10**7}), cuda)

    def broken(device: object = None) -> tuple[int, int]:
        raise RuntimeError("CUDA driver initialization failed")

    monkeypatch.setattr(torch.cuda, "mem_get_info", broken)
    assert available_memory(cuda) is None
    check_memory_budget(level(training={"num_envs": 10**12}), cuda)  # nothing to compare with


def test_no_cuda_means_no_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert available_memory(torch.device("cuda")) is None


def test_a_container_limit_caps_free_memory(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    (tmp_path / "memory.max").write_text(f"{GIB}\n")
    (tmp_path / "memory.current").write_text(f"{GIB // 2}\n")
    (tmp_path / "memory.stat").write_text(f"anon 1\ninactive_file {GIB // 4}\nactive_file 5\n")
    monkeypatch.setattr(memory_budget, "_CGROUP_V2", tmp_path)
    # Page cache the kernel would reclaim does not count as used.
    assert memory_budget._cgroup_headroom() == GIB - GIB // 4
    assert available_memory(CPU) <= GIB - GIB // 4
    (tmp_path / "memory.max").write_text("max\n")
    assert memory_budget._cgroup_headroom() is None

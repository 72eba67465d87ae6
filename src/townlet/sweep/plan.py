"""What a sweep will run: the product of seeds and ``--set`` values, checked before Ray starts.

Every trial's config is the file's config with the trial's seed and settings applied, validated
by the same typed loader as a single run, so a wrong key or value stops the sweep at once with
the field and the fix, before any process starts.
"""

from __future__ import annotations

import itertools
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from townlet.config import ConfigError, TownletConfig, config_from_dict, config_to_dict

EVALUATION_CAP_FACTOR = 10  # results are given at the step cap and at ten times it
DEFAULT_MILESTONES = tuple(
    base * 10**power for power in range(5, 11) for base in (1, 2, 5)
)  # 100k, 200k, 500k, 1M ... 50G env steps: a 1-2-5 series; rows only for those reached
_SUFFIXES = {"k": 10**3, "m": 10**6, "g": 10**9}


class PlanError(ValueError):
    """Bad sweep input; the message says what to do."""


@dataclass(frozen=True)
class Setting:
    """One combination of ``--set`` values (empty for a plain seed sweep)."""

    values: tuple[tuple[str, Any], ...] = ()

    @property
    def label(self) -> str:
        return ", ".join(f"{key}={_show(value)}" for key, value in self.values) or "config"

    @property
    def slug(self) -> str:
        """For folder names: the values only, file-name safe."""
        text = "_".join(f"{key.rsplit('.', 1)[-1]}-{_show(value)}" for key, value in self.values)
        return re.sub(r"[^A-Za-z0-9.+-]+", "_", text)


@dataclass(frozen=True)
class TrialSpec:
    """Everything one trial needs, as plain data: it travels to a Ray worker by pickle."""

    sweep_id: str
    index: int
    run_id: str
    seed: int
    setting_label: str
    config: dict[str, Any]  # validated, seed and settings applied
    config_path: str
    run_dir: str
    device: str  # auto, cpu or cuda (auto: cuda only when Ray gave this trial a GPU)
    gpus: float
    torch_threads: int
    milestones: tuple[int, ...]
    env_step_budget: int | None
    inject_fault: bool = False  # tests only: the trial raises once training runs


@dataclass
class SweepPlan:
    config: TownletConfig
    config_path: Path
    seeds: list[int]
    settings: list[Setting]
    milestones: tuple[int, ...]
    env_step_budget: int | None
    trials: list[tuple[int, Setting, TownletConfig]] = field(default_factory=list)

    def describe(self) -> dict[str, Any]:
        """For the sweep's registry row and sweep.json."""
        keys: dict[str, list[Any]] = {}
        for setting in self.settings:
            for key, value in setting.values:
                keys.setdefault(key, [])
                if value not in keys[key]:
                    keys[key].append(value)
        return {
            "seeds": self.seeds,
            "set": keys,
            "milestones": list(self.milestones),
            "env_step_budget": self.env_step_budget,
            "episodes": self.config.training.total_episodes,
        }


def parse_set(text: str) -> tuple[str, list[Any]]:
    """``training.learning_rate=1e-4,3e-4`` -> ("training.learning_rate", [0.0001, 0.0003])."""
    key, sep, values = text.partition("=")
    key = key.strip()
    if not sep or not key or not values.strip():
        raise PlanError(
            f"--set {text!r}: expected KEY=VALUE[,VALUE...], e.g. "
            "--set training.learning_rate=1e-4,3e-4"
        )
    parsed = [_scalar(value.strip()) for value in values.split(",") if value.strip()]
    if len(set(map(json.dumps, parsed))) != len(parsed):
        raise PlanError(f"--set {text!r}: a value is given twice")
    return key, parsed


def parse_steps(text: str, flag: str) -> int:
    """``250000``, ``250k``, ``11.4M``, ``1e6`` -> an env-step count (at least 1)."""
    raw = text.strip().lower().replace("_", "").replace(",", "")
    scale = _SUFFIXES.get(raw[-1:], 1)
    number = raw[:-1] if raw[-1:] in _SUFFIXES else raw
    try:
        steps = round(float(number) * scale)
    except ValueError:
        raise PlanError(
            f"{flag} {text!r}: expected an env-step count such as 500k or 11.4M"
        ) from None
    if steps < 1:
        raise PlanError(f"{flag} {text!r}: must be at least 1 env step")
    return steps


def parse_milestones(text: str | None) -> tuple[int, ...] | None:
    if text is None:
        return None
    steps = sorted({parse_steps(part, "--milestones") for part in text.split(",") if part.strip()})
    if not steps:
        raise PlanError("--milestones: give env steps, e.g. --milestones 1M,5M,10M")
    return tuple(steps)


def build_plan(
    config: TownletConfig,
    config_path: Path,
    seeds: int,
    sets: list[str],
    milestones: tuple[int, ...] | None,
    env_step_budget: int | None,
) -> SweepPlan:
    if seeds < 1:
        raise PlanError(f"--seeds {seeds}: give at least 1")
    parsed: dict[str, list[Any]] = {}
    for text in sets:
        key, values = parse_set(text)
        if key in parsed:
            raise PlanError(f"--set {key} is given twice: list every value in one --set")
        if key == "seed":
            raise PlanError("--set seed=...: seeds come from --seeds (the config's seed + 0..N-1)")
        parsed[key] = values
    settings = [
        Setting(tuple(zip(parsed, combination, strict=True)))
        for combination in itertools.product(*parsed.values())
    ]
    base = config_to_dict(config)
    seed_list = [config.seed + offset for offset in range(seeds)]
    chosen = milestones if milestones is not None else DEFAULT_MILESTONES
    if env_step_budget is not None:
        chosen = tuple(
            sorted({step for step in chosen if step <= env_step_budget} | {env_step_budget})
        )
    plan = SweepPlan(config, config_path, seed_list, settings, chosen, env_step_budget)
    for setting in settings:
        data = json.loads(json.dumps(base))  # a deep copy of plain data
        for key, value in setting.values:
            _assign(data, key, value)
        for seed in seed_list:
            data["seed"] = seed
            try:
                trial_config = config_from_dict(data, source=f"{config_path} with {setting.label}")
            except ConfigError as error:
                raise PlanError(str(error)) from None
            plan.trials.append((seed, setting, trial_config))
    return plan


def _assign(data: dict[str, Any], key: str, value: Any) -> None:
    """Set a dotted key that must already exist in the full config (defaults included)."""
    parts = key.split(".")
    node: Any = data
    for depth, part in enumerate(parts):
        if not isinstance(node, dict) or part not in node:
            where = ".".join(parts[:depth]) or "the top level"
            known = ", ".join(sorted(node)) if isinstance(node, dict) else "none (not a section)"
            raise PlanError(
                f"--set {key}: {where} has no key {part!r} (it has: {known}); "
                "check the spelling against the config file"
            )
        if depth == len(parts) - 1:
            if isinstance(node[part], dict):
                raise PlanError(f"--set {key}: that is a section; set one of its keys")
            node[part] = value
        else:
            node = node[part]


def _scalar(text: str) -> Any:
    """Numbers as numbers (1e-4 too, which YAML would keep as text), else YAML's reading."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    import yaml

    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def _show(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)

"""Sweeps without Ray: trials from seeds x --set, intervals, tables, the registry schema, and
bad input refused before Ray starts."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from tests.support.sweeps import (
    PROJECT_ROOT,
    ray_service_pids,
    run_townlet,
    townlet_env,
    write_tiny_config,
)
from tests.support.tiny import tiny_config
from townlet import commands
from townlet.registry import Registry
from townlet.registry.store import MIGRATIONS, REGISTRY_FILE, SCHEMA_VERSION
from townlet.sweep.plan import PlanError, build_plan, parse_milestones, parse_set, parse_steps
from townlet.sweep.plot import survival_svg
from townlet.sweep.results import (
    TrialEvaluation,
    TrialOutcome,
    csv_text,
    markdown_table,
    summarise,
)
from townlet.sweep.stats import mean_interval, t_quantile_975


def test_student_t_interval() -> None:
    assert t_quantile_975(4) == pytest.approx(2.7764)
    assert t_quantile_975(60) == pytest.approx(2.0003, abs=2e-4)
    interval = mean_interval([300.0, 320.0, 340.0, 360.0, 380.0])
    # s = 31.62, s / sqrt(5) = 14.14, t(4) = 2.7764: half-width 39.27
    assert interval.mean == pytest.approx(340.0)
    assert interval.half_width == pytest.approx(39.27, abs=0.01)
    single = mean_interval([250.0])
    assert single.low is None and single.n == 1


def test_seeds_times_settings_make_the_trials(tmp_path: Path) -> None:
    config = tiny_config()
    plan = build_plan(
        config,
        tmp_path / "c.yaml",
        seeds=2,
        sets=["training.learning_rate=1e-4,3e-4", "training.gamma=0.9"],
        milestones=None,
        env_step_budget=None,
    )
    assert len(plan.trials) == 4
    assert [seed for seed, _, _ in plan.trials] == [0, 1, 0, 1]
    rates = [trial.training.learning_rate for _, _, trial in plan.trials]
    assert rates == [1e-4, 1e-4, 3e-4, 3e-4]
    assert plan.settings[0].label == "training.learning_rate=0.0001, training.gamma=0.9"
    assert plan.describe()["set"] == {
        "training.learning_rate": [1e-4, 3e-4],
        "training.gamma": [0.9],
    }


def test_bad_settings_name_the_field(tmp_path: Path) -> None:
    config = tiny_config()
    with pytest.raises(PlanError, match="has no key 'learning_rat'"):
        build_plan(config, tmp_path / "c.yaml", 1, ["training.learning_rat=1"], None, None)
    with pytest.raises(PlanError, match=r"training\.gamma"):
        build_plan(config, tmp_path / "c.yaml", 1, ["training.gamma=-3"], None, None)
    with pytest.raises(PlanError, match="KEY=VALUE"):
        parse_set("training.gamma")
    assert parse_set("training.network.dueling=true,false")[1] == [True, False]


def test_env_steps_and_milestones() -> None:
    assert parse_steps("11.4M", "--env-steps") == 11_400_000
    assert parse_steps("500k", "--env-steps") == 500_000
    assert parse_milestones("2k, 1k,2k") == (1000, 2000)
    with pytest.raises(PlanError, match="env-step count"):
        parse_steps("soon", "--env-steps")
    plan = build_plan(tiny_config(), Path("c.yaml"), 1, [], (1000, 5000, 90_000), 20_000)
    assert plan.milestones == (1000, 5000, 20_000)  # the budget is a milestone too


def _outcome(
    index: int, setting: str, seed: int, survival: dict[int | None, float]
) -> TrialOutcome:
    evaluations = [
        TrialEvaluation(
            milestone=milestone,
            checkpoint=f"ckpt_{milestone}.pt",
            env_step=(milestone or 3000) + 7,
            step_cap=100 * factor,
            cap_factor=factor,
            worlds=4,
            mean_survival=value * factor**0.5,
            min_survival=0,
            max_survival=100 * factor,
            share_at_cap=0.5 if factor == 1 else 0.0,
        )
        for milestone, value in survival.items()
        for factor in (1, 10)
    ]
    return TrialOutcome(
        run_id=f"run{index}",
        index=index,
        seed=seed,
        setting=setting,
        status="completed",
        reason="",
        evaluations=evaluations,
    )


def test_table_per_milestone_and_setting() -> None:
    outcomes = [
        _outcome(0, "lr=1", 0, {1000: 50.0, None: 60.0}),
        _outcome(1, "lr=1", 1, {1000: 70.0, None: 80.0}),
        _outcome(2, "lr=2", 0, {1000: 90.0, None: 95.0}),
        TrialOutcome(run_id="x", index=3, seed=1, setting="lr=2", status="failed", reason="boom"),
    ]
    rows = summarise(outcomes)
    assert [(row.milestone, row.setting, row.survival.n) for row in rows] == [
        (1000, "lr=1", 2),
        (1000, "lr=2", 1),
        (None, "lr=1", 2),
        (None, "lr=2", 1),
    ]
    assert rows[0].survival.mean == pytest.approx(60.0)
    assert rows[0].share_at_cap == pytest.approx(0.5)
    text = markdown_table(rows)
    assert "| 1k | lr=1 | 2 |" in text and "one seed: no interval" in text
    assert csv_text(rows).splitlines()[0].startswith("milestone,setting,seeds,mean_env_step")
    svg = survival_svg(rows, "tiny")
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")


def test_an_older_registry_gains_sweeps(tmp_path: Path) -> None:
    path = tmp_path / REGISTRY_FILE
    with sqlite3.connect(path) as db:
        db.executescript(MIGRATIONS[0])
        db.execute("PRAGMA user_version = 1")
    registry = Registry(tmp_path)
    assert registry.sweeps() == []
    registry.close()
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def test_bad_input_is_refused_before_ray_starts(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    runner = CliRunner()
    result = runner.invoke(commands.cli, ["sweep", str(config), "--parallel", "0"])
    assert result.exit_code == 2
    assert "--parallel" in result.output and "0 is not in the range x>=1" in result.output

    before = ray_service_pids()
    unreachable = run_townlet(
        [
            "sweep",
            str(config),
            "--seeds",
            "1",
            "--ray-address",
            "127.0.0.1:1",
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        timeout=60,
    )
    assert unreachable.returncode == 2, unreachable.stderr
    assert "no Ray cluster answers at 127.0.0.1:1" in unreachable.stderr
    assert "ray start --head" in unreachable.stderr
    assert ray_service_pids() <= before
    assert not (tmp_path / "runs").exists()  # nothing registered, no folder

    refused = subprocess.run(
        [sys.executable, "run_demo.py", "--config", str(config), "--runs", "0"],
        cwd=PROJECT_ROOT,
        env=townlet_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert refused.returncode == 2 and "--runs 0: give at least 1" in refused.stderr

    bad_set = run_townlet(
        ["sweep", str(config), "--set", "training.num_env=4", "--runs-dir", str(tmp_path / "r")]
    )
    assert bad_set.returncode == 2 and "has no key 'num_env'" in bad_set.stderr

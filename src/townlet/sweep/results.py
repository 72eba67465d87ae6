"""A sweep's results: per trial what the greedy policy did at each env-step milestone, and
across seeds the mean with its 95% interval, as Markdown, CSV and an SVG plot.

Each trial writes ``trial.json`` (a ``TrialOutcome``) in its own folder, so the tables can be
rebuilt from the folders alone (``townlet compare SWEEP``), whatever happened to the driver.
"""

from __future__ import annotations

import csv
import io
import logging
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ValidationError

from townlet.sweep.stats import Interval, mean_interval

log = logging.getLogger("townlet.sweep")

TRIAL_FILE = "trial.json"
RESULTS_MARKDOWN = "results.md"
RESULTS_CSV = "results.csv"
RESULTS_PLOT = "results.svg"
FINAL = "final"  # the milestone column of each trial's last checkpoint


class TrialEvaluation(BaseModel):
    """One checkpoint of one trial played greedily on the fixed evaluation worlds."""

    milestone: int | None  # the env-step milestone; None for the trial's final checkpoint
    checkpoint: str
    env_step: int
    step_cap: int
    cap_factor: int  # 1: the config's step cap; 10: ten times it
    worlds: int
    mean_survival: float
    min_survival: int
    max_survival: int
    share_at_cap: float


class TrialOutcome(BaseModel):
    """How one trial went, where it ran, and its evaluations (``trial.json``)."""

    run_id: str
    index: int
    seed: int
    setting: str
    status: str  # completed, stopped, failed
    reason: str
    error: str | None = None
    node_id: str | None = None
    host: str | None = None
    pid: int | None = None
    device: str | None = None
    episode: int = 0
    env_step: int = 0
    steps_per_second: float | None = None  # training's mean over the whole trial
    training_seconds: float | None = None
    evaluations: list[TrialEvaluation] = []


def write_outcome(run_dir: Path, outcome: TrialOutcome) -> None:
    path = run_dir / TRIAL_FILE
    temporary = path.with_suffix(".json.tmp")
    temporary.write_text(outcome.model_dump_json(indent=2), encoding="utf-8")
    temporary.replace(path)  # whole or not at all: compare never reads half a file


def load_outcomes(sweep_dir: Path) -> list[TrialOutcome]:
    outcomes = []
    for path in sorted(sweep_dir.glob(f"*/{TRIAL_FILE}")):
        try:
            outcomes.append(TrialOutcome.model_validate_json(path.read_bytes()))
        except (OSError, ValidationError) as error:
            log.warning("leaving out %s: %s", path, error)
    return sorted(outcomes, key=lambda outcome: outcome.index)


@dataclass(frozen=True)
class Row:
    """One setting at one milestone, across its seeds."""

    setting: str
    milestone: int | None  # None: the final checkpoints (at different env steps)
    mean_env_step: float
    step_cap: int
    long_cap: int
    survival: Interval
    share_at_cap: float
    long_survival: Interval | None
    share_at_long_cap: float | None


def summarise(outcomes: list[TrialOutcome]) -> list[Row]:
    """Rows by milestone (final last), then setting in the order the trials were made.

    Failed trials are left out (their error is in the registry); a milestone only some seeds
    reached gets a row with the seeds that did, and ``seeds`` says how many.
    """
    usable = [outcome for outcome in outcomes if outcome.status != "failed"]
    settings = list(dict.fromkeys(outcome.setting for outcome in outcomes))
    milestones = sorted({e.milestone for o in usable for e in o.evaluations if e.milestone})
    rows = []
    for milestone in [*milestones, None]:
        for setting in settings:
            short, long = [], []
            for outcome in usable:
                if outcome.setting != setting:
                    continue
                for evaluation in outcome.evaluations:
                    if evaluation.milestone == milestone:
                        (short if evaluation.cap_factor == 1 else long).append(evaluation)
            if not short:
                continue
            rows.append(
                Row(
                    setting=setting,
                    milestone=milestone,
                    mean_env_step=sum(e.env_step for e in short) / len(short),
                    step_cap=short[0].step_cap,
                    long_cap=long[0].step_cap if long else 0,
                    survival=mean_interval([e.mean_survival for e in short]),
                    share_at_cap=sum(e.share_at_cap for e in short) / len(short),
                    long_survival=mean_interval([e.mean_survival for e in long]) if long else None,
                    share_at_long_cap=sum(e.share_at_cap for e in long) / len(long)
                    if long
                    else None,
                )
            )
    return rows


def steps_text(value: float) -> str:
    """1234567 -> 1.23M: env steps as people say them."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if value >= scale:
            return f"{value / scale:.3g}{suffix}"
    return f"{value:.0f}"


def _interval_text(interval: Interval | None) -> str:
    if interval is None:
        return "-"
    if interval.low is None or interval.high is None:
        return f"{interval.mean:.1f} (one seed: no interval)"
    return f"{interval.mean:.1f} ({interval.low:.1f} to {interval.high:.1f})"


def _share_text(share: float | None) -> str:
    return "-" if share is None else f"{100 * share:.0f}%"


def markdown_table(rows: list[Row]) -> str:
    if not rows:
        return "no trial has an evaluated checkpoint yet"
    cap, long_cap = rows[0].step_cap, max(row.long_cap for row in rows)
    lines = [
        f"| milestone | setting | seeds | env steps (mean) | greedy survival, cap {cap} "
        f"(mean, 95% CI) | at the cap | survival, cap {long_cap} (mean, 95% CI) | at the cap |",
        "|---|---|---:|---:|---|---:|---|---:|",
    ]
    for row in rows:
        milestone = FINAL if row.milestone is None else steps_text(row.milestone)
        lines.append(
            f"| {milestone} | {row.setting} | {row.survival.n} | {steps_text(row.mean_env_step)} "
            f"| {_interval_text(row.survival)} | {_share_text(row.share_at_cap)} "
            f"| {_interval_text(row.long_survival)} | {_share_text(row.share_at_long_cap)} |"
        )
    return "\n".join(lines)


CSV_COLUMNS = (
    "milestone",
    "setting",
    "seeds",
    "mean_env_step",
    "step_cap",
    "survival_mean",
    "survival_ci_low",
    "survival_ci_high",
    "share_at_cap",
    "long_step_cap",
    "long_survival_mean",
    "long_survival_ci_low",
    "long_survival_ci_high",
    "share_at_long_cap",
)


def csv_text(rows: list[Row]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for row in rows:
        long = row.long_survival
        writer.writerow(
            [
                FINAL if row.milestone is None else row.milestone,
                row.setting,
                row.survival.n,
                round(row.mean_env_step),
                row.step_cap,
                round(row.survival.mean, 3),
                _round(row.survival.low),
                _round(row.survival.high),
                round(row.share_at_cap, 4),
                row.long_cap or "",
                "" if long is None else round(long.mean, 3),
                "" if long is None else _round(long.low),
                "" if long is None else _round(long.high),
                "" if row.share_at_long_cap is None else round(row.share_at_long_cap, 4),
            ]
        )
    return buffer.getvalue()


def _round(value: float | None) -> float | str:
    return "" if value is None else round(value, 3)


def trials_table(outcomes: list[TrialOutcome]) -> str:
    """Per trial: where it ran, how it ended, how far it got (Markdown)."""
    lines = [
        "| trial | run | setting | seed | status | node | env steps | steps/s | final greedy |",
        "|---:|---|---|---:|---|---|---:|---:|---:|",
    ]
    for outcome in outcomes:
        final = next(
            (e for e in outcome.evaluations if e.milestone is None and e.cap_factor == 1), None
        )
        status = outcome.status + (f": {outcome.error}" if outcome.error else "")
        lines.append(
            f"| {outcome.index} | {outcome.run_id} | {outcome.setting} | {outcome.seed} "
            f"| {status} | {(outcome.node_id or '-')[:12]} | {steps_text(outcome.env_step)} "
            f"| {'-' if outcome.steps_per_second is None else f'{outcome.steps_per_second:,.0f}'} "
            f"| {'-' if final is None else f'{final.mean_survival:.1f}'} |"
        )
    return "\n".join(lines)


def results_document(sweep_id: str, title: str, outcomes: list[TrialOutcome]) -> str:
    rows = summarise(outcomes)
    return "\n".join(
        [
            f"# Sweep {sweep_id}: {title}",
            "",
            "Greedy survival on the same fixed evaluation worlds for every trial (the config's",
            "`evaluation` seed and count), at each env-step milestone and for each trial's final",
            "checkpoint; mean over seeds with its 95% Student-t confidence interval, and the",
            "share of evaluation worlds that reached the step cap. Made by `townlet sweep`.",
            "",
            markdown_table(rows),
            "",
            "## Trials",
            "",
            trials_table(outcomes),
            "",
        ]
    )


def write_results(sweep_dir: Path, sweep_id: str, title: str) -> list[Row]:
    """results.md, results.csv and results.svg in the sweep folder, from its trials' files."""
    from townlet.sweep.plot import survival_svg

    outcomes = load_outcomes(sweep_dir)
    rows = summarise(outcomes)
    (sweep_dir / RESULTS_MARKDOWN).write_text(
        results_document(sweep_id, title, outcomes), encoding="utf-8"
    )
    (sweep_dir / RESULTS_CSV).write_text(csv_text(rows), encoding="utf-8")
    (sweep_dir / RESULTS_PLOT).write_text(survival_svg(rows, title), encoding="utf-8")
    return rows

"""A seed sweep of level 1 against the learning targets: every seed, every milestone.

Reads the trials' ``trial.json`` files of one sweep (``townlet sweep ... --milestones``: each
milestone's checkpoint played greedily on the fixed evaluation worlds at the step cap and at
ten times it) and writes, as Markdown:

- per milestone, the greedy mean survival across seeds: mean, 95% t-interval, range, and the
  share of worlds at the cap, at both caps;
- each seed's figure at every milestone;
- the targets: at the 2-minute milestone (11.4M env steps) >= 400 on every seed; from 15M on
  no snapshot below 450; at the 10-minute one (57M) >= 95% at the 500 cap and >= 90% at the
  5,000 cap, on every seed.

    python benchmarks/learning_targets.py runs/sweeps/s-XXXXXX \
        --output benchmarks/results/learning_level_1_seeds.md [--title "..."]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from townlet.sweep.results import TrialEvaluation, TrialOutcome, load_outcomes  # noqa: E402
from townlet.sweep.stats import mean_interval  # noqa: E402

TWO_MINUTES, TEN_MINUTES, STEADY_FROM = 11_400_000, 57_000_000, 15_000_000


def _at(outcome: TrialOutcome, milestone: int, factor: int) -> TrialEvaluation | None:
    return next(
        (e for e in outcome.evaluations if e.milestone == milestone and e.cap_factor == factor),
        None,
    )


def _steps(value: int) -> str:
    return f"{value / 1e6:g}M"


def _across(values: list[float]) -> str:
    interval = mean_interval(values)
    band = f"{interval.low:.0f} to {interval.high:.0f}" if interval.low is not None else "n/a"
    return f"{interval.mean:.1f} | {band} | {min(values):.0f}-{max(values):.0f}"


def document(outcomes: list[TrialOutcome], title: str, source: str, targets: bool = True) -> str:
    usable = [o for o in outcomes if o.evaluations]
    milestones = sorted({e.milestone for o in usable for e in o.evaluations if e.milestone})
    seeds = [o.seed for o in usable]
    cap = next(e.step_cap for o in usable for e in o.evaluations if e.cap_factor == 1)
    long_cap = cap * 10
    lines = [
        f"# {title}",
        "",
        f"{len(usable)} seeds ({', '.join(map(str, seeds))}) of one config, trained by "
        f"`townlet sweep` ({source}). At each env-step milestone the checkpoint saved there is "
        f"played greedily on the same fixed evaluation worlds ({usable[0].evaluations[0].worlds} "
        f"worlds, the config's evaluation seed) at the {cap}-tick cap and at {long_cap}. "
        "Mean with its 95% t-interval across seeds (few seeds: wide on purpose) and the range. "
        "Made by `benchmarks/learning_targets.py`.",
        "",
        "Env-step milestones stand for wall-clock time on this 2-core machine at about 95,000 "
        "env steps/s: 11.4M is two minutes of training, 57M ten.",
        "",
        f"## Greedy mean survival across seeds, cap {cap} and cap {long_cap}",
        "",
        f"| milestone | seeds | cap {cap}: mean | 95% CI | range | at cap (mean) "
        f"| cap {long_cap}: mean | 95% CI | range | at cap (mean) |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for milestone in milestones:
        short = [e for o in usable if (e := _at(o, milestone, 1)) is not None]
        long = [e for o in usable if (e := _at(o, milestone, 10)) is not None]
        if not short:
            continue
        lines.append(
            f"| {_steps(milestone)} | {len(short)} | {_across([e.mean_survival for e in short])} "
            f"| {statistics.fmean(e.share_at_cap for e in short):.0%} "
            f"| {_across([e.mean_survival for e in long]) if long else '- | - | -'} "
            f"| {statistics.fmean(e.share_at_cap for e in long) if long else 0:.0%} |"
        )
    lines += [
        "",
        f"## Each seed, cap {cap} (share at cap; cap {long_cap} share)",
        "",
        "| milestone | " + " | ".join(f"seed {s}" for s in seeds) + " |",
        "|---|" + "---|" * len(seeds),
    ]
    for milestone in milestones:
        cells = []
        for outcome in usable:
            short, long = _at(outcome, milestone, 1), _at(outcome, milestone, 10)
            cells.append(
                "-"
                if short is None
                else f"{short.mean_survival:.0f} ({short.share_at_cap:.0%}; "
                f"{long.share_at_cap if long else 0:.0%})"
            )
        lines.append(f"| {_steps(milestone)} | " + " | ".join(cells) + " |")
    if targets:
        lines += ["", "## Targets", "", "| target | measured | met |", "|---|---|---|"]
        lines += _targets(usable, milestones)
    return "\n".join(lines) + "\n"


def _targets(usable: list[TrialOutcome], milestones: list[int]) -> list[str]:
    rows = []
    two = [e.mean_survival for o in usable if (e := _at(o, TWO_MINUTES, 1)) is not None]
    if two:
        rows.append(
            f"| 11.4M env steps: greedy mean >= 400 at the 500 cap on every seed "
            f"| mean {statistics.fmean(two):.1f}, range {min(two):.0f}-{max(two):.0f} "
            f"({len(two)} seeds) | {'yes' if min(two) >= 400 else 'no'} |"
        )
    late = [
        (o.seed, m, e.mean_survival)
        for o in usable
        for m in milestones
        if m >= STEADY_FROM and (e := _at(o, m, 1)) is not None
    ]
    if late:
        below = [f"seed {s} at {_steps(m)}: {v:.0f}" for s, m, v in late if v < 450]
        rows.append(
            f"| from 15M: no evaluated snapshot below 450 | {len(late)} snapshots, lowest "
            f"{min(v for _, _, v in late):.0f}; below 450: {', '.join(below) or 'none'} "
            f"| {'yes' if not below else 'no'} |"
        )
    short = [e.share_at_cap for o in usable if (e := _at(o, TEN_MINUTES, 1)) is not None]
    long = [e.share_at_cap for o in usable if (e := _at(o, TEN_MINUTES, 10)) is not None]
    if short:
        rows.append(
            f"| 57M: >= 95% of episodes at the 500 cap on every seed | mean "
            f"{statistics.fmean(short):.0%}, range {min(short):.0%}-{max(short):.0%} "
            f"| {'yes' if min(short) >= 0.95 else 'no'} |"
        )
    if long:
        rows.append(
            f"| 57M: >= 90% at the 5,000 cap on every seed | mean {statistics.fmean(long):.0%}, "
            f"range {min(long):.0%}-{max(long):.0%} | {'yes' if min(long) >= 0.90 else 'no'} |"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sweep_dir", type=Path)
    parser.add_argument("--output", type=Path)
    parser.add_argument("--title", default="Level 1 over seeds: greedy survival at milestones")
    parser.add_argument("--source", default="the default config")
    parser.add_argument(
        "--no-targets", action="store_true", help="leave out level 1's targets (other levels)"
    )
    args = parser.parse_args()
    text = document(
        load_outcomes(args.sweep_dir), args.title, args.source, targets=not args.no_targets
    )
    print(text)
    if args.output:
        args.output.write_text(text)


if __name__ == "__main__":
    main()

"""Which moving average of the online weights should checkpoints play?

Trains one seed of a config in this process. Beside the policy the trainer itself keeps
(``training.policy_average_decay``), it keeps moving averages of the online weights at other
decays, which training never reads, so every candidate comes from the very same run: a paired
comparison that one training run per seed pays for. Every ``--every`` env steps it freezes
the learner and plays each candidate greedily on the evaluator's fixed worlds (its seed and
world count) at ten times the evaluation cap. The figure at the evaluation cap is the same
episodes cut there: the worlds and the policy are deterministic, so an episode that lived past
the cap would have been stopped by it.

    python benchmarks/compare_policy_averages.py run --seed 0 --env-steps 57M --every 1M \
        --decays 0.9995,0.9998,0.9999 --out /tmp/averages_seed0.json [--set KEY=VALUE ...]
    python benchmarks/compare_policy_averages.py report /tmp/averages_seed*.json \
        --markdown benchmarks/results/policy_average_decay.md

The measurements pause training and are not counted in its throughput.
"""

from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_lines, reexec_with_malloc_settings  # noqa: E402

reexec_with_malloc_settings()

import torch  # noqa: E402 - after the re-exec on purpose

from benchmarks.diagnose_collapse import _configured  # noqa: E402
from townlet.learner.evaluation import greedy_policy  # noqa: E402
from townlet.learner.trainer import DQNTrainer  # noqa: E402
from townlet.sweep.plan import parse_steps  # noqa: E402
from townlet.world.baselines import run_first_episodes  # noqa: E402

LONG_CAP_FACTOR = 10
GOOD_MEAN = 450.0  # the floor for every snapshot from 15M on, at the 500 cap
GOOD_LONG_SHARE = 0.9  # the share of episodes reaching the long cap


def _shown(path: Path) -> str:
    """The config's path as a reader of the results would type it: from the project root."""
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def _label(decay: float) -> str:
    if decay < 0:  # a decay whose horizon grows as the learning rate falls
        return f"{-decay:g} x lr0/lr"
    return "online" if decay == 0 else f"{decay:g}"


def _decay_now(decay: float, trainer: DQNTrainer) -> float:
    """A negative decay -d means: 1 - (1 - d) * lr / lr0, so the average spans as much
    weight movement late in training, when each update is smaller, as it did at the start."""
    if decay >= 0:
        return decay
    scale = trainer.learning_rate / trainer.settings.learning_rate
    return 1.0 - (1.0 + decay) * scale


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    machine = machine_lines()
    config = _configured(args.config, args.seed, args.set)
    total, every = parse_steps(args.env_steps, "--env-steps"), parse_steps(args.every, "--every")
    start = parse_steps(args.start, "--start")
    cap = config.evaluation.step_cap or config.world.step_cap
    long_cap = cap * LONG_CAP_FACTOR
    own = config.training.policy_average_decay
    if config.training.policy_average_follows_learning_rate:
        own = -own  # the trainer's own average follows the learning rate: label it so
    extra = [d for d in (float(x) for x in args.decays.split(",") if x) if d != own]
    with tempfile.TemporaryDirectory() as scratch:
        trainer = DQNTrainer(config, torch.device("cpu"), Path(scratch))
        averages = {d: copy.deepcopy(trainer.online).requires_grad_(False) for d in extra}
        online_params = list(trainer.online.parameters())
        average_params = {d: list(net.parameters()) for d, net in averages.items()}
        candidates = {own: trainer.policy, **averages}
        snapshots: list[dict[str, Any]] = []
        next_snapshot = start
        last_update = trainer.update_step
        train_seconds, started = 0.0, time.monotonic()
        while trainer.env_step < total:
            trainer.train_step()
            if trainer.update_step != last_update:
                last_update = trainer.update_step
                with torch.no_grad():
                    for decay, params in average_params.items():
                        weight = 1.0 - _decay_now(decay, trainer)
                        torch._foreach_lerp_(params, online_params, weight)
            if trainer.env_step < next_snapshot and trainer.env_step < total:
                continue
            train_seconds += time.monotonic() - started
            next_snapshot += every
            row: dict[str, Any] = {"env_step": trainer.env_step, "policies": {}}
            for decay, network in candidates.items():
                survival = run_first_episodes(
                    config.world,
                    config.reward,
                    greedy_policy(network),
                    config.evaluation.worlds,
                    long_cap,
                    seed=config.evaluation.seed,
                ).survival
                short = survival.clamp(max=cap).double()
                row["policies"][_label(decay)] = {
                    "mean": float(short.mean()),
                    "at_cap": float((survival >= cap).double().mean()),
                    "long_mean": float(survival.double().mean()),
                    "at_long_cap": float((survival >= long_cap).double().mean()),
                }
            snapshots.append(row)
            print(
                f"seed {args.seed} {trainer.env_step / 1e6:6.2f}M "
                + " ".join(
                    f"{k}: {v['mean']:.0f}/{v['at_long_cap']:.0%}"
                    for k, v in row["policies"].items()
                ),
                flush=True,
            )
            started = time.monotonic()
    args.out.write_text(
        json.dumps(
            {
                "config": _shown(args.config),
                "sets": args.set,
                "seed": args.seed,
                "machine": machine,
                "cap": cap,
                "long_cap": long_cap,
                "worlds": config.evaluation.worlds,
                "trainer_decay": own,
                "steps_per_second": trainer.env_step / train_seconds if train_seconds else None,
                "snapshots": snapshots,
            },
            indent=1,
        )
    )


def _at(snapshots: list[dict[str, Any]], step: int) -> dict[str, Any] | None:
    later = [s for s in snapshots if s["env_step"] >= step]
    return later[0] if later else None


def _means_at(runs: list[dict[str, Any]], label: str, step: int) -> list[float]:
    """Each seed's mean survival for ``label`` at its first snapshot from ``step`` on."""
    return [
        s["policies"][label]["mean"] for r in runs if (s := _at(r["snapshots"], step)) is not None
    ]


def _shares(policy: dict[str, float]) -> str:
    return f"{policy['at_cap']:.0%} / {policy['at_long_cap']:.0%}"


def _target_lines(
    runs: list[dict[str, Any]], labels: list[str], early: int, since: int
) -> list[str]:
    """The issue's level 1 targets for each candidate, every seed, at this run's snapshots."""
    lines = [
        "",
        "## Targets, per policy (every seed must meet each)",
        "",
        f"| policy | at {early / 1e6:g}M: >= 400 | from {since / 1e6:g}M: none below "
        f"{GOOD_MEAN:g} | last: >= 95% at the cap | last: >= {GOOD_LONG_SHARE:.0%} at the "
        "long cap |",
        "|---|---|---|---|---|",
    ]
    for label in labels:
        early_means = _means_at(runs, label, early)
        low = [
            f"seed {r['seed']} at {s['env_step'] / 1e6:.0f}M: {s['policies'][label]['mean']:.0f}"
            for r in runs
            for s in r["snapshots"]
            if s["env_step"] >= since and s["policies"][label]["mean"] < GOOD_MEAN
        ]
        last = [r["snapshots"][-1]["policies"][label] for r in runs]
        at_cap = [p["at_cap"] for p in last]
        at_long = [p["at_long_cap"] for p in last]

        def verdict(ok: bool, detail: str) -> str:
            return f"{'yes' if ok else 'no'}: {detail}"

        lines.append(
            f"| {label} "
            f"| {verdict(min(early_means) >= 400, f'lowest {min(early_means):.0f}')} "
            f"| {verdict(not low, '; '.join(low) or 'none')} "
            f"| {verdict(min(at_cap) >= 0.95, f'lowest {min(at_cap):.0%}')} "
            f"| {verdict(min(at_long) >= GOOD_LONG_SHARE, f'lowest {min(at_long):.0%}')} |"
        )
    return lines


def _reach_lines(runs: list[dict[str, Any]], labels: list[str], reach: float) -> list[str]:
    """When each candidate first reached ``reach`` mean survival, and where it ended."""
    lines = [
        "",
        f"## When each policy first reached a mean of {reach:g}, and its last snapshot",
        "",
        "| policy | " + " | ".join(f"seed {r['seed']}" for r in runs) + " | seeds reaching it |",
        "|---|" + "---|" * (len(runs) + 1),
    ]
    for label in labels:
        cells, reached = [], 0
        for r in runs:
            first = next((s for s in r["snapshots"] if s["policies"][label]["mean"] >= reach), None)
            last = r["snapshots"][-1]
            end = f"{last['policies'][label]['mean']:.0f} at {last['env_step'] / 1e6:.0f}M"
            if first is None:
                best = max(r["snapshots"], key=lambda s: s["policies"][label]["mean"])
                best_text = (
                    f"best {best['policies'][label]['mean']:.0f} at {best['env_step'] / 1e6:.0f}M"
                )
                cells.append(f"not reached ({best_text}; {end})")
            else:
                reached += 1
                cells.append(
                    f"{first['env_step'] / 1e6:.0f}M ({first['policies'][label]['mean']:.0f}; "
                    f"{end})"
                )
        lines.append(f"| {label} | " + " | ".join(cells) + f" | {reached} of {len(runs)} |")
    return lines


def report(args: argparse.Namespace) -> None:
    runs = [json.loads(Path(path).read_text()) for path in args.files]
    early, since = parse_steps(args.early, "--early"), parse_steps(args.since, "--since")
    first = runs[0]
    labels = list(first["snapshots"][0]["policies"])
    lines = [
        f"# {args.title}",
        "",
        "Made by `benchmarks/compare_policy_averages.py`. One training run per seed "
        f"({first['config']}{' with ' + ' '.join(first['sets']) if first['sets'] else ''}); "
        "beside it, moving averages of the online weights at each decay (per gradient update), "
        f"never read by training. The trainer's own is {_label(first['trainer_decay'])}. At "
        f"each snapshot every candidate plays the evaluator's {first['worlds']} fixed worlds "
        f"greedily to {first['long_cap']} ticks; the {first['cap']}-tick figures are those "
        "episodes cut at the cap.",
        "",
        *first["machine"],
        "",
        f"## Per policy: across seeds ({', '.join(str(r['seed']) for r in runs)})",
        "",
        f"| policy | at {early / 1e6:g}M: mean survival (range) | from {since / 1e6:g}M: "
        f"snapshots below {GOOD_MEAN:g} | from {since / 1e6:g}M: lowest | from "
        f"{since / 1e6:g}M: snapshots with < {GOOD_LONG_SHARE:.0%} at the long cap | last "
        "snapshot: at cap / at long cap (per seed) |",
        "|---|---|---|---|---|---|",
    ]
    for label in labels:
        at_early = _means_at(runs, label, early)
        late = [
            s["policies"][label] for r in runs for s in r["snapshots"] if s["env_step"] >= since
        ]
        last = [r["snapshots"][-1]["policies"][label] for r in runs]
        lines.append(
            f"| {label} "
            f"| {statistics.fmean(at_early):.1f} ({min(at_early):.0f}-{max(at_early):.0f}) "
            f"| {sum(p['mean'] < GOOD_MEAN for p in late)} of {len(late)} "
            f"| {min(p['mean'] for p in late):.0f} "
            f"| {sum(p['at_long_cap'] < GOOD_LONG_SHARE for p in late)} of {len(late)} "
            f"| {', '.join(_shares(p) for p in last)} |"
            if at_early and late
            else f"| {label} | - | - | - | - | - |"
        )
    lines += (
        _reach_lines(runs, labels, args.reach)
        if args.reach
        else _target_lines(runs, labels, early, since)
    )
    for r in runs:
        lines += [
            "",
            f"## Seed {r['seed']}: mean survival at the {r['cap']} cap / share at the "
            f"{r['long_cap']} cap",
            "",
            "| env steps | " + " | ".join(labels) + " |",
            "|---|" + "---|" * len(labels),
        ]
        for s in r["snapshots"]:
            cells = [
                f"{s['policies'][k]['mean']:.0f} / {s['policies'][k]['at_long_cap']:.0%}"
                for k in labels
            ]
            lines.append(f"| {s['env_step'] / 1e6:.1f}M | " + " | ".join(cells) + " |")
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run", help="train one seed and compare the averages")
    one.add_argument(
        "--config", type=Path, default=ROOT / "configs/level_1_full_observability.yaml"
    )
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--env-steps", default="57M")
    one.add_argument("--every", default="1M")
    one.add_argument("--start", default="2M", help="the first snapshot")
    one.add_argument(
        "--decays",
        default="0.9995,0.9998,0.9999",
        help="comma-separated; -D: decay D at the first learning rate, its horizon growing "
        "as the learning rate falls",
    )
    one.add_argument("--set", action="append", default=[], help="KEY=VALUE, as townlet sweep's")
    one.add_argument("--out", type=Path, required=True)
    many = commands.add_parser("report", help="tables from the runs' JSON files")
    many.add_argument("files", nargs="+", type=Path)
    many.add_argument("--early", default="11.4M")
    many.add_argument("--since", default="15M")
    many.add_argument(
        "--reach", type=float, help="instead of level 1's targets: when each policy reached this"
    )
    many.add_argument("--title", default="Which moving average of the online weights to play")
    many.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()

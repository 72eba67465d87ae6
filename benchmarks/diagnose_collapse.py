"""Why does the greedy policy collapse while ε-greedy training survival stays high?

Trains one seed of a config in this process and, every ``--every`` env steps, freezes the
learner and measures, on the fixed evaluation worlds (the evaluator's seed, not the training
worlds):

- the greedy survival of the online network (what checkpoints hold and live play shows) and
  of an exponential moving average (EMA) of its weights kept beside it, which training never
  reads, so both policies come from the very same run;
- the action gap on the states the greedy online policy visits: best minus second-best Q
  among the legal actions, against the size of Q itself;
- policy churn: the share of a fixed probe set of states (drawn from replay once, early)
  whose greedy action changed since the previous snapshot, for the online and EMA weights.

    python benchmarks/diagnose_collapse.py run --seed 0 --env-steps 20M --every 500k \
        --out /tmp/collapse_seed0.json [--set training.learning_rate=0.0002 ...]
    python benchmarks/diagnose_collapse.py report /tmp/collapse_seed*.json \
        --markdown benchmarks/results/collapse_diagnosis.md

Training time per snapshot is what the trainer does anyway; the measurements pause it and
are not counted in its throughput.
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
from torch import nn  # noqa: E402

from townlet.config import TownletConfig, config_from_dict, config_to_dict, load_config  # noqa: E402
from townlet.learner.exploration import greedy_actions  # noqa: E402
from townlet.learner.trainer import DQNTrainer  # noqa: E402
from townlet.sweep.plan import parse_set, parse_steps  # noqa: E402
from townlet.world import VectorWorld  # noqa: E402

EVALUATION_WORLDS = 100
PROBE_STATES = 8192
NAN = float("nan")
TINY_GAP = 0.05  # Q units: a weight update of ordinary size moves Q by more than this


def _configured(path: Path, seed: int, sets: list[str]) -> TownletConfig:
    data = config_to_dict(load_config(path))
    data["seed"] = seed
    for text in sets:
        key, values = parse_set(text)
        node = data
        *parents, leaf = key.split(".")
        for part in parents:
            node = node[part]
        node[leaf] = values[0]
    return config_from_dict(data, source=f"{path} with {' '.join(sets) or 'no changes'}")


@torch.no_grad()
def _greedy_run(network: nn.Module, config: TownletConfig, cap: int, seed: int) -> dict[str, float]:
    """Each world's first episode, greedily; gaps measured on every state visited alive."""
    world = VectorWorld(
        config.world.model_copy(update={"step_cap": cap}),
        config.reward,
        EVALUATION_WORLDS,
        seed=seed,
    )
    finished = torch.zeros(EVALUATION_WORLDS, dtype=torch.bool)
    survival = torch.zeros(EVALUATION_WORLDS, dtype=torch.long)
    gaps: list[torch.Tensor] = []
    top_q: list[torch.Tensor] = []
    for _ in range(cap):
        q_values = network(world.observations)
        masked = q_values.masked_fill(~world.action_masks, float("-inf"))
        top2 = masked.topk(2, dim=1).values
        alive = ~finished
        two_legal = torch.isfinite(top2[:, 1]) & alive
        gaps.append((top2[:, 0] - top2[:, 1])[two_legal])
        top_q.append(top2[:, 0][alive])
        result = world.step(masked.argmax(dim=1))
        first = result.dones & ~finished
        survival = torch.where(first, result.episode_lengths, survival)
        finished |= result.dones
        if bool(finished.all()):
            break
    gap = torch.cat(gaps)
    q = torch.cat(top_q)
    return {
        "mean_survival": float(survival.double().mean()),
        "share_at_cap": float((survival >= cap).double().mean()),
        "min_survival": int(survival.min()),
        "gap_median": float(gap.median()) if gap.numel() else float("nan"),
        "gap_tiny_share": float((gap < TINY_GAP).double().mean()) if gap.numel() else float("nan"),
        "q_mean": float(q.mean()) if q.numel() else float("nan"),
    }


def run(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    machine = machine_lines()  # before training: what else was busy when it started
    config = _configured(args.config, args.seed, args.set)
    total, every = parse_steps(args.env_steps, "--env-steps"), parse_steps(args.every, "--every")
    evaluation_seed = config.evaluation.seed
    cap = config.evaluation.step_cap or config.world.step_cap
    with tempfile.TemporaryDirectory() as scratch:
        trainer = DQNTrainer(config, torch.device("cpu"), Path(scratch))
        ema = copy.deepcopy(trainer.online).requires_grad_(False)
        online_params = list(trainer.online.parameters())
        ema_params = list(ema.parameters())
        weight = 1.0 - args.ema
        probe: torch.Tensor | None = None
        previous: dict[str, torch.Tensor] = {}
        snapshots: list[dict[str, Any]] = []
        next_snapshot = every
        train_seconds = 0.0
        last_update = trainer.update_step
        started = time.monotonic()
        while trainer.env_step < total:
            trainer.train_step()
            if trainer.update_step != last_update:
                last_update = trainer.update_step
                with torch.no_grad():
                    torch._foreach_lerp_(ema_params, online_params, weight)
            if trainer.env_step < next_snapshot:
                continue
            train_seconds += time.monotonic() - started
            next_snapshot += every
            if probe is None:
                take = torch.randperm(
                    len(trainer.replay), generator=torch.Generator().manual_seed(1)
                )[:PROBE_STATES]
                # Observations with the legal actions that go with them: replay's next ones.
                probe = trainer.replay.next_observations.flatten(0, 1)[take].clone()
                probe_masks = trainer.replay.next_masks.flatten(0, 1)[take].clone()
            row: dict[str, Any] = {
                "env_step": trainer.env_step,
                "learning_rate": trainer.learning_rate,
                "epsilon": trainer.epsilon,
                "training_survival": trainer.recent_mean_survival(),
            }
            for name, network in (("online", trainer.online), ("ema", ema)):
                row[name] = _greedy_run(network, config, cap, evaluation_seed)
                with torch.no_grad():
                    actions = greedy_actions(network(probe), probe_masks)
                if name in previous:
                    row[name]["churn"] = float((actions != previous[name]).double().mean())
                previous[name] = actions
            snapshots.append(row)
            online, averaged = row["online"], row["ema"]
            print(
                f"seed {args.seed} {trainer.env_step / 1e6:6.2f}M: "
                f"online {online['mean_survival']:5.1f} ema {averaged['mean_survival']:5.1f} "
                f"gap {online['gap_median']:.3f} churn {online.get('churn', NAN):.3f}"
                f"/{averaged.get('churn', NAN):.3f} train {row['training_survival'] or 0:.0f}",
                flush=True,
            )
            started = time.monotonic()
    args.out.write_text(
        json.dumps(
            {
                "config": str(args.config),
                "sets": args.set,
                "seed": args.seed,
                "machine": machine,
                "ema": args.ema,
                "cap": cap,
                "steps_per_second": total / train_seconds if train_seconds else None,
                "snapshots": snapshots,
            },
            indent=1,
        )
    )


def report(args: argparse.Namespace) -> None:
    runs = [json.loads(Path(path).read_text()) for path in args.files]
    lines = [
        "# Why the greedy policy collapses: online weights against their moving average",
        "",
        "Made by `benchmarks/diagnose_collapse.py`. Each run trains one seed; at each snapshot "
        f"the online network and an EMA of its weights (decay {runs[0]['ema']}, never used by "
        f"training) play {EVALUATION_WORLDS} fixed evaluation worlds greedily (cap "
        f"{runs[0]['cap']}). Action gap: best minus second-best legal Q on the states the online "
        f"policy visits; tiny = below {TINY_GAP}. Churn: share of {PROBE_STATES} fixed replay "
        "states whose greedy action changed since the previous snapshot.",
        "",
        *runs[0]["machine"],
        "",
    ]
    since = parse_steps(args.since, "--since")
    lines += [
        f"## Summary from {since / 1e6:g}M env steps on, per run",
        "",
        "| run | snapshots | online: mean (min) | online below 450 | EMA: mean (min) "
        "| EMA below 450 | median gap | tiny gaps | Q (mean max) | churn online / EMA |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run_data in runs:
        late = [s for s in run_data["snapshots"] if s["env_step"] >= since]
        if not late:
            continue
        online = [s["online"]["mean_survival"] for s in late]
        ema = [s["ema"]["mean_survival"] for s in late]
        churn_online = [s["online"]["churn"] for s in late if "churn" in s["online"]]
        churn_ema = [s["ema"]["churn"] for s in late if "churn" in s["ema"]]
        label = f"seed {run_data['seed']}" + (
            f" {' '.join(run_data['sets'])}" if run_data["sets"] else ""
        )
        lines.append(
            f"| {label} | {len(late)} | {statistics.fmean(online):.1f} ({min(online):.0f}) "
            f"| {sum(v < 450 for v in online)} | {statistics.fmean(ema):.1f} ({min(ema):.0f}) "
            f"| {sum(v < 450 for v in ema)} "
            f"| {statistics.median(s['online']['gap_median'] for s in late):.3f} "
            f"| {statistics.fmean(s['online']['gap_tiny_share'] for s in late):.0%} "
            f"| {statistics.fmean(s['online']['q_mean'] for s in late):.1f} "
            f"| {statistics.fmean(churn_online or [NAN]):.3f} "
            f"/ {statistics.fmean(churn_ema or [NAN]):.3f} |"
        )
    for run_data in runs:
        label = f"seed {run_data['seed']}" + (
            f" {' '.join(run_data['sets'])}" if run_data["sets"] else ""
        )
        lines += [
            "",
            f"## {label}: every snapshot",
            "",
            "| env steps | lr | training survival (ε-greedy) | online greedy | online at cap "
            "| EMA greedy | EMA at cap | median gap | tiny gaps | Q | churn online | churn EMA |",
            "|---|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for s in run_data["snapshots"]:
            o, e = s["online"], s["ema"]
            lines.append(
                f"| {s['env_step'] / 1e6:.2f}M | {s['learning_rate']:.2g} "
                f"| {s['training_survival'] or 0:.0f} "
                f"| {o['mean_survival']:.1f} | {o['share_at_cap']:.0%} | {e['mean_survival']:.1f} "
                f"| {e['share_at_cap']:.0%} | {o['gap_median']:.3f} | {o['gap_tiny_share']:.0%} "
                f"| {o['q_mean']:.1f} | {o.get('churn', NAN):.3f} | {e.get('churn', NAN):.3f} |"
            )
    text = "\n".join(lines) + "\n"
    print(text)
    if args.markdown:
        args.markdown.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    one = commands.add_parser("run", help="train one seed and measure at each snapshot")
    one.add_argument(
        "--config", type=Path, default=ROOT / "configs/level_1_full_observability.yaml"
    )
    one.add_argument("--seed", type=int, default=0)
    one.add_argument("--env-steps", default="20M")
    one.add_argument("--every", default="500k")
    one.add_argument("--ema", type=float, default=0.999, help="EMA decay per gradient update")
    one.add_argument("--set", action="append", default=[], help="KEY=VALUE, as townlet sweep's")
    one.add_argument("--out", type=Path, required=True)
    many = commands.add_parser("report", help="tables from the runs' JSON files")
    many.add_argument("files", nargs="+", type=Path)
    many.add_argument("--since", default="15M", help="the summary covers snapshots from here on")
    many.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    run(args) if args.command == "run" else report(args)


if __name__ == "__main__":
    main()

"""What does a checkpoint's greedy policy actually do on the evaluator's worlds?

Survival figures say that a policy fails, not how. This plays the policy a checkpoint holds
(the played average, or ``--weights online``) greedily on the evaluator's fixed worlds and
counts what it does: how each world's first episode ended, which affordances it used and
how often, how much of its time it spent waiting, and the meters it died with.

    python benchmarks/policy_behaviour.py train --seed 1 --at 11M,20M,23M --dir /tmp/seed1 \
        [--config configs/level_1_full_observability.yaml] [--set KEY=VALUE ...]
    python benchmarks/policy_behaviour.py show /tmp/seed1/*.pt [--cap 1000] [--markdown F]

``train`` trains one seed in this process and writes an ordinary Townlet checkpoint at each
``--at`` env step; ``show`` reads any Townlet checkpoint of a feed-forward level, a run's
included.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import reexec_with_malloc_settings  # noqa: E402

reexec_with_malloc_settings()

import torch  # noqa: E402 - after the re-exec on purpose

from benchmarks.diagnose_collapse import _configured  # noqa: E402
from townlet.checkpoints.store import (  # noqa: E402
    CheckpointError,
    checkpoint_name,
    load_checkpoint,
    save_checkpoint,
)
from townlet.config import config_from_dict  # noqa: E402
from townlet.learner.evaluation import greedy_policy  # noqa: E402
from townlet.learner.networks import MlpQNetwork, build_q_network  # noqa: E402
from townlet.learner.trainer import DQNTrainer  # noqa: E402
from townlet.sweep.plan import parse_steps  # noqa: E402
from townlet.world import VectorWorld  # noqa: E402
from townlet.world.constants import INTERACT, WAIT, DeathCause, MeterNames  # noqa: E402

REPORT_CAP = 500  # the evaluation cap the survival targets are stated at


@dataclass(frozen=True)
class Behaviour:
    """One policy on the evaluator's worlds, each world's first episode."""

    env_step: int
    survival: torch.Tensor  # [N] ticks, up to the cap played
    causes: torch.Tensor  # [N] DeathCause
    uses: dict[str, float]  # affordance -> INTERACTs per 100 ticks alive, over all worlds
    wait_share: float  # share of ticks alive spent on WAIT
    meters_at_death: dict[str, float]  # mean over the worlds that died


def train(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    config = _configured(args.config, args.seed, args.set)
    stops = sorted(parse_steps(text, "--at") for text in args.at.split(","))
    args.dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = DQNTrainer(config, torch.device("cpu"), Path(scratch))
        for stop in stops:
            while trainer.env_step < stop:
                trainer.train_step()
            name = checkpoint_name(trainer.episode, trainer.env_step)
            path = save_checkpoint(trainer.state_dict(), args.dir, name)
            print(f"seed {args.seed}: {path}", flush=True)


@torch.no_grad()
def behaviour(path: Path, cap: int, weights: str) -> Behaviour:
    try:
        checkpoint = load_checkpoint(path)
    except CheckpointError as error:
        raise SystemExit(f"cannot read {path}: {error}") from None
    config = config_from_dict(checkpoint["config"], source=str(path))
    network = build_q_network(checkpoint["model_args"])
    if not isinstance(network, MlpQNetwork):
        raise SystemExit(f"{path.name}: only feed-forward checkpoints (levels 1 and 2's MLP)")
    network.load_state_dict(checkpoint[weights])
    worlds = config.evaluation.worlds
    world = VectorWorld(
        config.world.model_copy(update={"step_cap": cap}),
        config.reward,
        worlds,
        seed=config.evaluation.seed,
    )
    names = list(world.tables.affordance_names)
    uses = torch.zeros(len(names) + 1, dtype=torch.long)  # the last slot: standing on nothing
    waits = ticks = 0
    alive = torch.ones(worlds, dtype=torch.bool)
    survival = torch.full((worlds,), cap, dtype=torch.long)
    causes = torch.full((worlds,), int(DeathCause.STEP_CAP), dtype=torch.long)
    death_meters = torch.zeros(worlds, len(MeterNames))
    act = greedy_policy(network)
    for _ in range(cap):
        actions = act(world)
        here = world.affordance_cells == world.cells.unsqueeze(1)  # [N, A]
        standing = torch.where(here.any(dim=1), here.long().argmax(dim=1), len(names))
        interacting = (actions == INTERACT) & alive & world.action_masks[:, INTERACT]
        uses += torch.bincount(standing[interacting], minlength=len(names) + 1)
        waits += int(((actions == WAIT) & alive).sum())
        ticks += int(alive.sum())
        result = world.step(actions)
        ended = result.dones & alive
        survival = torch.where(ended, result.episode_lengths, survival)
        causes = torch.where(ended, result.death_causes, causes)
        death_meters[ended] = world.next_observations[ended][:, world.obs_spec.meters]
        alive &= ~result.dones
        if not bool(alive.any()):
            break
    died = causes != int(DeathCause.STEP_CAP)
    return Behaviour(
        env_step=int(checkpoint["counters"]["env_step"]),
        survival=survival,
        causes=causes,
        uses={name: 100.0 * int(uses[i]) / ticks for i, name in enumerate(names)},
        wait_share=waits / ticks,
        meters_at_death=(
            {name: float(death_meters[died, i].mean()) for i, name in enumerate(MeterNames)}
            if bool(died.any())
            else {}
        ),
    )


def _row(b: Behaviour) -> str:
    at_report_cap = b.survival.clamp(max=REPORT_CAP).double()
    counts = torch.bincount(b.causes, minlength=len(DeathCause)).tolist()
    ends = ", ".join(
        f"{'alive' if cause == DeathCause.STEP_CAP else cause.label} {counts[cause]}"
        for cause in DeathCause
        if cause and counts[cause]
    )
    used = ", ".join(
        f"{name} {rate:.1f}" for name, rate in sorted(b.uses.items(), key=lambda kv: -kv[1]) if rate
    )
    low = ", ".join(f"{n} {v:.2f}" for n, v in b.meters_at_death.items() if v < 0.1) or "-"
    return (
        f"| {b.env_step / 1e6:.2f}M | {at_report_cap.mean():.0f} | "
        f"{(b.survival >= REPORT_CAP).double().mean():.0%} | {b.survival.double().mean():.0f} "
        f"| {ends} | {b.wait_share:.0%} | {used} | {low} |"
    )


def show(args: argparse.Namespace) -> None:
    torch.set_num_threads(1)
    lines = [
        f"| env steps | mean at {REPORT_CAP} | at {REPORT_CAP} | mean at {args.cap} | ended by "
        f"(to {args.cap}) | WAIT | uses per 100 ticks alive | meters near 0 at death |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for path in args.checkpoints:
        lines.append(_row(behaviour(path, args.cap, args.weights)))
        print(lines[-1], flush=True)
    if args.markdown is not None:
        args.markdown.write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    trained = commands.add_parser("train", help="train one seed, saving checkpoints at --at")
    trained.add_argument(
        "--config", type=Path, default=ROOT / "configs/level_1_full_observability.yaml"
    )
    trained.add_argument("--seed", type=int, default=0)
    trained.add_argument("--at", required=True, help="comma-separated env steps: 11M,20M")
    trained.add_argument("--set", action="append", default=[], help="KEY=VALUE, as townlet sweep's")
    trained.add_argument("--dir", type=Path, required=True)
    shown = commands.add_parser("show", help="what each checkpoint's greedy policy does")
    shown.add_argument("checkpoints", type=Path, nargs="+")
    shown.add_argument("--cap", type=int, default=1000, help="ticks to play each world to")
    shown.add_argument("--weights", choices=["policy", "online"], default="policy")
    shown.add_argument("--markdown", type=Path)
    args = parser.parse_args()
    {"train": train, "show": show}[args.command](args)


if __name__ == "__main__":
    main()

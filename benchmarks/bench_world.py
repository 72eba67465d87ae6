"""Agent-steps per second of the vectorised world, with random legal actions.

Runs every level config at 1, 64, 1024 and 4096 worlds on one CPU thread, counting the whole
step (action, meters, auto-reset, observation, masks) plus the random policy (one integer draw
per world and a table lookup). Prints a table and writes it to benchmarks/results/world.md.

    python benchmarks/bench_world.py [--seconds 1.5] [--sizes 1 64 1024 4096]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_busy, machine_lines, reexec_with_malloc_settings  # noqa: E402
from benchmarks.progress import progress_bar, say  # noqa: E402

reexec_with_malloc_settings()

import torch  # noqa: E402 - after the re-exec on purpose

from townlet.config import load_config  # noqa: E402
from townlet.world import VectorWorld  # noqa: E402
from townlet.world.baselines import RandomLegalActions  # noqa: E402

LEVELS = ("level_1_full_observability", "level_2_pomdp", "level_3_temporal")
CHUNKS = 5  # the cell's figure is the median chunk: robust to a neighbour stealing the core


def measure(level: str, num_envs: int, seconds: float) -> float:
    cfg = load_config(ROOT / "configs" / f"{level}.yaml")
    world = VectorWorld(cfg.world, cfg.reward, num_envs, seed=0)
    policy = RandomLegalActions(world)
    warm_until = time.perf_counter() + min(0.3, seconds / 4)
    while time.perf_counter() < warm_until:
        world.step(policy(world))
    batch = max(1, 20_000 // num_envs)  # steps between clock reads
    rates = []
    for _ in range(CHUNKS):
        steps = 0
        start = time.perf_counter()
        end = start + seconds / CHUNKS
        while time.perf_counter() < end:
            for _ in range(batch):
                world.step(policy(world))
            steps += batch
        rates.append(steps * num_envs / (time.perf_counter() - start))
    return statistics.median(rates)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=1.5, help="measured time per cell")
    parser.add_argument("--sizes", type=int, nargs="+", default=[1, 64, 1024, 4096])
    parser.add_argument("--levels", nargs="+", default=list(LEVELS))
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/world.md")
    args = parser.parse_args()
    torch.set_num_threads(1)

    header = machine_lines()
    print("\n".join(header), flush=True)
    rows = []
    with progress_bar(len(args.levels) * len(args.sizes), "world cells") as bar:
        for level in args.levels:
            rates = []
            for n in args.sizes:
                bar.set_description(f"{level} {n} worlds")
                rate = measure(level, n, args.seconds)
                rates.append(rate)
                say(f"{level:28s} {n:5d} worlds: {rate / 1e6:6.2f} M agent-steps/s")
                bar.update()
            rows.append((level, rates))

    header.append(describe_busy("after the run"))
    print(header[-1])
    cols = " | ".join(f"{n} world{'s' if n > 1 else ''}" for n in args.sizes)
    table = [f"| level | {cols} |", "|---|" + "---:|" * len(args.sizes)]
    for level, rates in rows:
        table.append(f"| {level} | " + " | ".join(f"{r:,.0f}" for r in rates) + " |")
    markdown = "\n".join(
        [
            "# World throughput",
            "",
            "Agent-steps per second (one step of one world) with random legal actions on one",
            "CPU thread. The whole step is timed, observation, masks and auto-reset included,",
            f"plus the random policy. Median of {CHUNKS} chunks, {args.seconds:g} s per cell;",
            "glibc malloc trimming is turned off. Made by `benchmarks/bench_world.py`.",
            "",
            *header,
            "",
            *table,
            "",
        ]
    )
    print("\n" + "\n".join(table))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()

"""What Ray costs a sweep: its start-up, and training speed in a Ray task against a plain run.

Three figures, each timed the way bench_training.py times training (the level's default
config, one torch thread, replay filled to ``learning_starts``, then ``train_step()`` for a
fixed wall-clock window):

1. Ray start-up: ``ray.init`` of a private local Ray, as ``townlet sweep`` starts it.
2. Overhead per trial: env steps/s of one trial in a Ray task against the same loop in a
   plain process (target: under 5% slower).
3. Scaling: two trials in parallel, aggregate env steps/s, against one trial alone, both in
   this one run (target: >= 1.7 on 2 cores).

    python benchmarks/bench_sweep.py [--seconds 20] [--level level_1_full_observability]

Measure on an otherwise idle machine: the pair needs both cores.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_busy, machine_lines, reexec_with_malloc_settings  # noqa: E402
from benchmarks.progress import say  # noqa: E402

reexec_with_malloc_settings()


def timed_training(level: str, seconds: float) -> dict[str, float]:
    """The bench_training.py loop; runs in this process or inside a Ray task."""
    import torch

    from townlet.config import load_config
    from townlet.learner.trainer import DQNTrainer

    config = load_config(ROOT / "configs" / f"{level}.yaml")
    torch.set_num_threads(config.training.torch_threads)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = DQNTrainer(config, torch.device("cpu"), Path(scratch))
        while not trainer.ready_to_learn():
            trainer.train_step()
        for _ in range(20):
            trainer.train_step()
        steps0 = trainer.env_step
        start = time.perf_counter()
        while time.perf_counter() - start < seconds:
            trainer.train_step()
        elapsed = time.perf_counter() - start
    return {"env_steps_per_second": (trainer.env_step - steps0) / elapsed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=20.0, help="timed window per figure")
    parser.add_argument("--level", default="level_1_full_observability")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/sweep.md")
    args = parser.parse_args()

    import torch

    torch.set_num_threads(1)
    header = machine_lines("cpu")
    print("\n".join(header), flush=True)

    plain = timed_training(args.level, args.seconds)["env_steps_per_second"]
    say(f"plain run, one trial:        {plain:>10,.0f} env steps/s")

    import ray

    from townlet.sweep.cluster import connect

    started = time.perf_counter()
    connection = connect(None, num_cpus=2)
    startup = time.perf_counter() - started
    say(f"Ray start-up (local, 2 CPUs): {startup:>9.2f} s")
    try:
        task = ray.remote(num_cpus=1, max_retries=0)(timed_training)
        ray.get(task.remote(args.level, 0.5))  # warm a worker: imports are not the trial's
        alone = ray.get(task.remote(args.level, args.seconds))["env_steps_per_second"]
        say(f"Ray, one trial alone:        {alone:>10,.0f} env steps/s")
        pair = ray.get([task.remote(args.level, args.seconds) for _ in range(2)])
        together = sum(result["env_steps_per_second"] for result in pair)
        say(f"Ray, two trials in parallel: {together:>10,.0f} env steps/s in all")
    finally:
        connection.close()
    header.append(describe_busy("after the run"))

    overhead = 1 - alone / plain
    ratio = together / alone
    table = [
        "| figure | target | measured |",
        "|---|---|---|",
        f"| Ray start-up (private local Ray) | - | {startup:.2f} s |",
        f"| one trial in a Ray task vs a plain run | < 5% slower | {100 * overhead:+.1f}% "
        f"({alone:,.0f} vs {plain:,.0f} env steps/s) |",
        f"| two trials in parallel vs one alone (aggregate env steps/s) | >= 1.7 | "
        f"{ratio:.2f} ({together:,.0f} vs {alone:,.0f}) |",
    ]
    markdown = "\n".join(
        [
            "# Sweeps on Ray: start-up, overhead per trial, scaling",
            "",
            f"Level `{args.level}`, default config, one torch thread per trial, {args.seconds:g} s",
            "timed window per figure after replay reached `learning_starts`. A positive overhead",
            "means the Ray task trained slower than the plain process. Made by",
            "`benchmarks/bench_sweep.py`.",
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

"""Env steps per second while learning, at each level's default settings.

Builds the trainer exactly as run_demo.py does (the level's YAML, one torch thread), fills
replay up to ``learning_starts``, then times ``train_step()`` — acting in every world plus the
gradient updates the config asks for — for a fixed wall-clock window. Prints a table and
writes it to benchmarks/results/training.md.

    python benchmarks/bench_training.py [--seconds 30] [--device cpu|cuda]
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
from benchmarks.progress import progress_bar, say  # noqa: E402

reexec_with_malloc_settings()

import torch  # noqa: E402 - after the re-exec on purpose
from tqdm import tqdm  # noqa: E402

from townlet.config import TownletConfig, load_config  # noqa: E402
from townlet.learner.trainer import DQNTrainer  # noqa: E402

LEVELS = ("level_1_full_observability", "level_2_pomdp", "level_3_temporal")


def measure(level: str, seconds: float, device: torch.device, bar: tqdm) -> dict[str, float]:
    return measure_config(load_config(ROOT / "configs" / f"{level}.yaml"), seconds, device, bar)


def measure_config(
    config: TownletConfig, seconds: float, device: torch.device, bar: tqdm
) -> dict[str, float]:
    """One timed window of ``train_step()`` right after replay reaches ``learning_starts``."""
    torch.set_num_threads(config.training.torch_threads)
    with tempfile.TemporaryDirectory() as scratch:
        trainer = DQNTrainer(config, device, Path(scratch))
        while not trainer.ready_to_learn():
            trainer.train_step()
        for _ in range(20):  # warm-up: first updates allocate optimiser state
            trainer.train_step()
        steps0, updates0 = trainer.env_step, trainer.update_step
        start = time.perf_counter()
        shown = 0.0  # seconds of this window already on the bar
        while (now := time.perf_counter()) - start < seconds:
            trainer.train_step()
            if now - start - shown >= 1.0:  # about once a second: the loop is what is timed
                bar.update(now - start - shown)
                shown = now - start
        if device.type == "cuda":
            torch.cuda.synchronize()
        elapsed = time.perf_counter() - start
        bar.update(seconds - shown)
    settings = config.training
    return {
        "num_envs": settings.num_envs,
        "updates_per_step": settings.updates_per_step,
        "batch": settings.batch_size,
        "env_steps_per_second": (trainer.env_step - steps0) / elapsed,
        "updates_per_second": (trainer.update_step - updates0) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=30.0, help="timed window per level")
    parser.add_argument("--levels", nargs="+", default=list(LEVELS))
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--output", type=Path, default=None)
    args = parser.parse_args()
    device = torch.device(args.device)
    output = args.output or ROOT / f"benchmarks/results/training_{args.device}.md"

    torch.set_num_threads(1)
    header = machine_lines(args.device)
    print("\n".join(header), flush=True)
    rows = []
    with progress_bar(args.seconds * len(args.levels), "timed windows") as bar:
        for level in args.levels:
            bar.set_description(level)
            figures = measure(level, args.seconds, device, bar)
            rows.append((level, figures))
            say(
                f"{level:28s} {figures['env_steps_per_second']:>10,.0f} env steps/s "
                f"{figures['updates_per_second']:>7,.0f} updates/s"
            )
    header.append(describe_busy("after the run"))
    table = [
        "| level | worlds | updates per batched step | batch | env steps/s | updates/s |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for level, f in rows:
        table.append(
            f"| {level} | {f['num_envs']:.0f} | {f['updates_per_step']:g} | {f['batch']:.0f} | "
            f"{f['env_steps_per_second']:,.0f} | {f['updates_per_second']:,.0f} |"
        )
    markdown = "\n".join(
        [
            f"# Training throughput ({args.device})",
            "",
            "Env steps per second while learning, at each level's default config: every world",
            "acts once per batched step and the configured gradient updates run in between.",
            f"Timed over {args.seconds:g} s after replay reached `learning_starts`.",
            "Made by `benchmarks/bench_training.py`.",
            "",
            *header,
            "",
            *table,
            "",
        ]
    )
    print("\n" + "\n".join(table))
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(markdown)
    print(f"\nwrote {output}")


if __name__ == "__main__":
    main()

"""Does one config setting change training throughput? Alternating windows, one process.

Each round builds a fresh trainer for setting A, then for B, fills replay to
``learning_starts`` and times ``train_step()`` for ``--seconds``: the first window after
learning starts, as ``bench_training.py`` times it. Alternating in one run keeps the machine's
drift out of the ratio.

    python benchmarks/ab_training_setting.py --a training.epsilon.decay_steps=2000000 \
        --b training.epsilon.decay_steps=5000000 --rounds 3 --seconds 20
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import machine_lines, reexec_with_malloc_settings  # noqa: E402

reexec_with_malloc_settings()

import torch  # noqa: E402 - after the re-exec on purpose
from tqdm import tqdm  # noqa: E402

from benchmarks.bench_training import measure_config  # noqa: E402
from benchmarks.diagnose_collapse import _configured  # noqa: E402


def window(config_path: Path, setting: str, seconds: float) -> float:
    """Env steps per second over one window timed as ``bench_training.py`` times it."""
    config = _configured(config_path, 0, [setting])
    quiet = tqdm(disable=True)
    return measure_config(config, seconds, torch.device("cpu"), quiet)["env_steps_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--config", type=Path, default=ROOT / "configs/level_1_full_observability.yaml"
    )
    parser.add_argument("--a", required=True, help="KEY=VALUE: the before")
    parser.add_argument("--b", required=True, help="KEY=VALUE: the after")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    for line in machine_lines():
        print(line)
    rates: dict[str, list[float]] = {args.a: [], args.b: []}
    for round_number in range(1, args.rounds + 1):
        for setting in (args.a, args.b):
            rates[setting].append(window(args.config, setting, args.seconds))
            print(f"round {round_number}: {setting}: {rates[setting][-1]:,.0f} env steps/s")
    before, after = statistics.fmean(rates[args.a]), statistics.fmean(rates[args.b])
    print(f"mean: {args.a}: {before:,.0f}; {args.b}: {after:,.0f}; ratio b/a {after / before:.3f}")


if __name__ == "__main__":
    main()

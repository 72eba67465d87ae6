"""What the steady learner costs training: the averaged policy, and the evaluator beside it.

Part 1, the averaged policy: two level 1 trainers (the default YAML, one torch thread), one
playing its online weights (``policy_average_decay: 0``, the learner before) and one keeping
the moving average (the default, 0.999), step in alternating timed windows in this process,
mirrored every other round so drift hits both alike. Ratio after/before (target >= 0.90 of
the level's 100k aim is judged on the absolute figure; the ratio says what averaging costs).

Part 2, the evaluator: one trainer trains in a thread, saving a checkpoint every
``--checkpoint-seconds`` as run_demo.py does, while the real evaluator process
(``townlet.evaluation.worker``, nice 10, one torch thread) plays every new checkpoint on the
fixed evaluation worlds, or is not running. Windows alternate on/off; ratio on/off (target
>= 0.95).

    python benchmarks/bench_steady_learner.py [--seconds 5] [--rounds 6]
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_busy, machine_lines, reexec_with_malloc_settings  # noqa: E402

reexec_with_malloc_settings()

import torch  # noqa: E402 - after the re-exec on purpose

from townlet.config import TownletConfig, load_config  # noqa: E402
from townlet.learner.trainer import DQNTrainer  # noqa: E402
from townlet.orchestrator.evaluator import EvaluatorProcess  # noqa: E402
from townlet.run_records import evaluation_log  # noqa: E402

CONFIG = ROOT / "configs" / "level_1_full_observability.yaml"


def _with(config: TownletConfig, **training: object) -> TownletConfig:
    return config.model_copy(update={"training": config.training.model_copy(update=training)})


def _ready(trainer: DQNTrainer) -> DQNTrainer:
    while not trainer.ready_to_learn():
        trainer.train_step()
    for _ in range(20):  # the first updates allocate optimiser state
        trainer.train_step()
    return trainer


def _window(trainer: DQNTrainer, seconds: float) -> float:
    steps, start = trainer.env_step, time.perf_counter()
    while time.perf_counter() - start < seconds:
        trainer.train_step()
    return (trainer.env_step - steps) / (time.perf_counter() - start)


def _summary(name: str, on: list[float], off: list[float], target: str) -> list[str]:
    ratios = [a / b for a, b in zip(on, off, strict=True)]
    return [
        f"| {name} | {target} | **{statistics.fmean(on) / statistics.fmean(off):.3f}** "
        f"| {min(ratios):.2f}-{max(ratios):.2f} | {statistics.fmean(on):,.0f} "
        f"| {statistics.fmean(off):,.0f} |"
    ]


def averaged_policy(seconds: float, rounds: int) -> tuple[list[float], list[float]]:
    base = load_config(CONFIG)
    with tempfile.TemporaryDirectory() as scratch:
        after = _ready(DQNTrainer(base, torch.device("cpu"), Path(scratch) / "a"))
        before = _ready(
            DQNTrainer(_with(base, policy_average_decay=0.0), torch.device("cpu"), Path(scratch))
        )
        on, off = [], []
        for index in range(rounds):
            pair = (after, before) if index % 2 == 0 else (before, after)
            rates = {id(t): _window(t, seconds) for t in pair}
            on.append(rates[id(after)])
            off.append(rates[id(before)])
            print(f"round {index + 1}: averaged {on[-1]:,.0f}, online {off[-1]:,.0f}", flush=True)
    return on, off


def evaluator_cost(
    seconds: float, rounds: int, checkpoint_seconds: float
) -> tuple[list[float], list[float], int]:
    config = load_config(CONFIG)
    config = config.model_copy(
        update={
            "checkpoint": config.checkpoint.model_copy(update={"every_seconds": checkpoint_seconds})
        }
    )
    with tempfile.TemporaryDirectory() as scratch:
        run_dir = Path(scratch)
        config_file = run_dir / "config.yaml"
        config_file.write_text(CONFIG.read_text())
        trainer = _ready(DQNTrainer(config, torch.device("cpu"), run_dir / "checkpoints"))
        stop = threading.Event()
        thread = threading.Thread(target=trainer.run, args=(stop,), name="training")
        thread.start()
        output = evaluation_log(run_dir).path
        # Started once (its start-up is not what a run pays each window); paused by the kernel
        # (SIGSTOP to its group) for the windows without it.
        evaluator = EvaluatorProcess(config_file, run_dir / "checkpoints", output)
        evaluator.start()
        assert evaluator.pid is not None
        on, off = [], []
        try:
            for index in range(rounds):
                for evaluating in (True, False) if index % 2 == 0 else (False, True):
                    os.killpg(evaluator.pid, signal.SIGCONT if evaluating else signal.SIGSTOP)
                    steps, start = trainer.env_step, time.perf_counter()
                    time.sleep(seconds)  # the trainer's own thread trains meanwhile
                    rate = (trainer.env_step - steps) / (time.perf_counter() - start)
                    (on if evaluating else off).append(rate)
                print(
                    f"round {index + 1}: evaluator {on[-1]:,.0f}, none {off[-1]:,.0f}", flush=True
                )
        finally:
            os.killpg(evaluator.pid, signal.SIGCONT)
            evaluator.stop()
            stop.set()
            thread.join()
        evaluated = len(output.read_text().splitlines()) if output.exists() else 0
    return on, off, evaluated


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=5.0, help="timed window")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--checkpoint-seconds", type=float, default=2.0)
    parser.add_argument(
        "--output", type=Path, default=ROOT / "benchmarks/results/steady_learner.md"
    )
    args = parser.parse_args()
    torch.set_num_threads(1)
    header = machine_lines()
    print("\n".join(header), flush=True)
    averaged_on, averaged_off = averaged_policy(args.seconds, args.rounds)
    evaluator_on, evaluator_off, evaluated = evaluator_cost(
        args.seconds * 2, args.rounds, args.checkpoint_seconds
    )
    header.append(describe_busy("after the run"))
    table = [
        "| figure | target | ratio (mean of windows) | range over rounds | with | without |",
        "|---|---|---|---|---|---|",
        *_summary(
            "training with the averaged policy / playing the online weights",
            averaged_on,
            averaged_off,
            "small",
        ),
        *_summary(
            "training beside the evaluator process / alone", evaluator_on, evaluator_off, ">= 0.95"
        ),
    ]
    text = "\n".join(
        [
            "# What the steady learner costs training",
            "",
            f"Level 1 default config, one torch thread, {args.rounds} rounds of alternating "
            f"windows ({args.seconds:g} s for the averaged policy, {args.seconds * 2:g} s for "
            f"the evaluator, which played {evaluated} checkpoints saved every "
            f"{args.checkpoint_seconds:g} s, five times as often as the default). Env steps/s. "
            "Made by `benchmarks/bench_steady_learner.py`.",
            "",
            *header,
            "",
            *table,
            "",
        ]
    )
    print(text)
    args.output.write_text(text)


if __name__ == "__main__":
    main()

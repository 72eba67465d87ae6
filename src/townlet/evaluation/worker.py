"""The evaluator process: every checkpoint of a run, played greedily, into evaluations.jsonl.

    python -m townlet.evaluation.worker --config CONFIG.yaml --checkpoint-dir DIR
        --output RUN_DIR/evaluations.jsonl [--poll-seconds 1.0]

It runs beside training, never inside it: one torch thread at a lower priority (nice 10), so
on a two-core laptop the trainer keeps its core. Each round it evaluates the newest checkpoint
that has no line in the output yet; when nothing newer waits, the older ones, newest first.
Names already in the output are skipped, so a restarted worker carries on where it stopped.

It stops, promptly and with exit code 0, when its stdin reaches end-of-file: the parent closes
the pipe to stop it, and the kernel closes it when the parent dies however it dies (kill -9).
SIGTERM stops it the same way; SIGINT is ignored (Ctrl+C belongs to the parent, which then
closes the pipe). Stopping is checked between world steps, so it never waits for an
evaluation to finish.
"""

from __future__ import annotations

import argparse
import logging
import os
import select
import signal
import sys
import threading
from pathlib import Path

import torch

from townlet.checkpoints import (
    CheckpointCatalog,
    CheckpointError,
    CheckpointMissingError,
    RejectedCheckpoint,
)
from townlet.config import ConfigError, TownletConfig, load_config
from townlet.evaluation.greedy import (
    evaluate_checkpoint,
    evaluation_step_cap,
    observation_size,
)
from townlet.evaluation.log import append_evaluation, read_evaluations
from townlet.run_records import EvaluationPoint
from townlet.world.baselines import EvaluationStopped

log = logging.getLogger("townlet.evaluation")

PREFIX = "[Evaluation]"  # the parent (orchestrator/evaluator.py) parses lines by it
NICENESS = 10


class EvaluationWorker:
    """The worker's loop, one checkpoint per call: in-process so it can be tested alone."""

    def __init__(
        self, config: TownletConfig, checkpoint_dir: Path, output: Path, stop: threading.Event
    ) -> None:
        self.config = config
        self.output = output
        self.stop = stop
        self.obs_dim = observation_size(config)
        self.catalog = CheckpointCatalog(checkpoint_dir, self.obs_dim)
        self.evaluated = {point.checkpoint for point in read_evaluations(output)}

    def waiting(self) -> list[Path]:
        """Checkpoints not evaluated yet, newest first (files known not to read left out)."""
        return [p for p in reversed(self.catalog.candidates()) if p.name not in self.evaluated]

    def evaluate_next(self) -> EvaluationPoint | None:
        """Evaluate the newest waiting checkpoint that reads; None when none does (or stopped)."""
        for path in self.waiting():
            if self.stop.is_set():
                return None
            try:
                point = self._evaluate(path)
            except CheckpointMissingError:
                continue  # pruned by the trainer before we got to it
            except RejectedCheckpoint as rejection:
                if rejection.first_time:
                    log.warning("skipping checkpoint: %s", rejection.reason)
                continue
            except EvaluationStopped:
                return None
            append_evaluation(self.output, point)
            self.evaluated.add(point.checkpoint)
            log.info(
                "checkpoint %s: greedy mean %.0f over %d worlds, %.0f%% at the cap "
                "(min %d, max %d; cap %d)",
                point.checkpoint,
                point.mean_survival,
                point.worlds,
                100 * point.share_at_cap,
                point.min_survival,
                point.max_survival,
                point.step_cap,
            )
            return point
        return None

    def _evaluate(self, path: Path) -> EvaluationPoint:
        state = self.catalog.read(path)
        try:
            return evaluate_checkpoint(
                self.config, path, state, self.obs_dim, should_stop=self.stop.is_set
            )
        except CheckpointError as error:
            # Loads, but does not describe a network we can rebuild: the same verdict.
            first_time = self.catalog.reject(path, str(error))
            raise RejectedCheckpoint(path, str(error), first_time) from error

    def run(self, poll_seconds: float) -> None:
        while not self.stop.is_set():
            if self.evaluate_next() is None:
                self.stop.wait(poll_seconds)


def watch_stdin(stop: threading.Event) -> threading.Thread:
    """Set ``stop`` when stdin reaches end-of-file (whatever is written to it is ignored)."""

    def watch() -> None:
        fd = sys.stdin.fileno()
        while not stop.is_set():
            readable, _, _ = select.select([fd], [], [], 0.2)
            if readable and not os.read(fd, 4096):
                stop.set()

    thread = threading.Thread(target=watch, name="stdin-watch")
    thread.start()
    return thread


class _Formatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        if record.levelno >= logging.WARNING:
            message = f"{record.levelname}: {message}"
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        stamp = self.formatTime(record, "%H:%M:%S")
        return f"{stamp}.{int(record.msecs):03d} {PREFIX} {message}"


def _configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    logger = logging.getLogger("townlet")
    logger.handlers[:] = [handler]
    logger.setLevel(logging.INFO)
    logger.propagate = False


def main(argv: list[str] | None = None) -> int:
    stop = threading.Event()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent owns Ctrl+C
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    parser = argparse.ArgumentParser(
        prog="python -m townlet.evaluation.worker", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--config", type=Path, required=True)
    parser.add_argument("--checkpoint-dir", type=Path, required=True)
    parser.add_argument("--output", type=Path, required=True, help="RUN_DIR/evaluations.jsonl")
    parser.add_argument("--poll-seconds", type=float, default=1.0)
    args = parser.parse_args(argv)
    _configure_logging()
    torch.set_num_threads(1)
    try:
        os.nice(NICENESS)
    except OSError as error:  # not fatal: we only run at training's priority
        log.warning("could not lower this process's priority (%s)", error)
    watcher = watch_stdin(stop)
    try:
        config = load_config(args.config)
        worker = EvaluationWorker(config, args.checkpoint_dir, args.output, stop)
        log.info(
            "evaluating checkpoints in %s greedily on %d worlds (seed %d, cap %d) into %s; "
            "%d already evaluated",
            args.checkpoint_dir,
            config.evaluation.worlds,
            config.evaluation.seed,
            evaluation_step_cap(config),
            args.output,
            len(worker.evaluated),
        )
        worker.run(args.poll_seconds)
    except ConfigError as error:
        log.error("%s", error)
        return 2
    except OSError as error:  # the output or the folder cannot be used (full disk, permissions)
        log.error("evaluation stops: %s", error)
        return 1
    finally:
        stop.set()
        watcher.join()
    return 0


if __name__ == "__main__":
    sys.exit(main())

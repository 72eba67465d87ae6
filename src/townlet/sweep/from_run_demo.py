"""``run_demo.py --runs N --parallel P``: the same sweep as ``townlet sweep CONFIG --seeds N``.

The single-run flags that make sense for each trial carry over (--config, --episodes,
--device, --runs-dir); those of one live run (ports, the page, TensorBoard, resuming a run or
a checkpoint folder) do not, and are refused rather than silently dropped.
"""

from __future__ import annotations

import argparse
import logging
import os

from townlet.orchestrator.console_log import configure_console_logging
from townlet.sweep.runner import SweepOptions, run_sweep

log = logging.getLogger("townlet.sweep")

_SINGLE_RUN_ONLY = {
    "checkpoint_dir": "--checkpoint-dir",
    "resume_run": "--resume-run",
    "tensorboard": "--tensorboard",
    "events": "--events",
}


def run_many(args: argparse.Namespace) -> int:
    configure_console_logging()
    if args.runs is None:
        log.error("--parallel goes with --runs N (N runs of the config, P at a time)")
        return 2
    if args.runs < 1:
        log.error("--runs %d: give at least 1 (e.g. --runs 5 --parallel 2)", args.runs)
        return 2
    if args.parallel is not None and args.parallel < 1:
        log.error("--parallel %d: give at least 1 (trials running at once)", args.parallel)
        return 2
    given = [flag for name, flag in _SINGLE_RUN_ONLY.items() if getattr(args, name) is not None]
    if given:
        log.error(
            "%s belong(s) to a single run and cannot go with --runs: each trial has its own "
            "folder under --runs-dir; drop %s",
            ", ".join(given),
            " ".join(given),
        )
        return 2
    parallel = args.parallel if args.parallel is not None else min(args.runs, os.cpu_count() or 1)
    return run_sweep(
        SweepOptions(
            config_path=args.config.resolve(),
            seeds=args.runs,
            parallel=parallel,
            sets=[],
            runs_dir=args.runs_dir.resolve(),
            episodes=args.episodes,
            device=args.device,
            name=args.experiment_name,
        )
    )

"""Where a run writes, and which earlier checkpoint a new run resumes from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from townlet.checkpoints import find_latest_checkpoint


@dataclass(frozen=True)
class RunPaths:
    run_dir: Path
    checkpoint_dir: Path
    tensorboard_dir: Path


def make_run_paths(runs_root: Path, config_stem: str, checkpoint_dir: Path | None) -> RunPaths:
    """``runs/<config stem>/<YYYY-MM-DD_HHMMSS>/`` with ``checkpoints/`` and ``tensorboard/``."""
    base = runs_root / config_stem
    stamp = datetime.now().strftime("%Y-%m-%d_%H%M%S")
    run_dir = base / stamp
    suffix = 2
    while run_dir.exists():  # two runs started within one second
        run_dir = base / f"{stamp}_{suffix}"
        suffix += 1
    run_dir.mkdir(parents=True)
    return RunPaths(
        run_dir=run_dir,
        checkpoint_dir=checkpoint_dir or run_dir / "checkpoints",
        tensorboard_dir=run_dir / "tensorboard",
    )


def find_resume_checkpoint(
    runs_root: Path, config_stem: str, checkpoint_dir: Path | None
) -> Path | None:
    """The checkpoint the previous run of this config stopped at, if there is one.

    With ``--checkpoint-dir`` that folder is the only place looked in; otherwise every earlier
    run of this config is, and the most recently written final checkpoint wins.
    """
    if checkpoint_dir is not None:
        return find_latest_checkpoint(checkpoint_dir)
    candidates = [
        latest
        for run in (runs_root / config_stem).glob("*/checkpoints")
        if (latest := find_latest_checkpoint(run)) is not None
    ]
    return max(candidates, key=lambda path: path.stat().st_mtime, default=None)

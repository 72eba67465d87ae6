"""Where a run writes, and which earlier checkpoint a new run resumes from."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import torch

from townlet.checkpoints import (
    CheckpointCatalog,
    CheckpointError,
    LoadedCheckpoint,
    list_checkpoints,
)

log = logging.getLogger("townlet.orchestrator")


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


def check_fresh_checkpoint_dir(directory: Path) -> None:
    """Refuse a fresh run in a folder that holds checkpoints already.

    Names sort by env step, so an older, longer run's files would sort above the new run's:
    live play and the next resume would pick the old run. Call before anything is written.
    """
    existing = list_checkpoints(directory)
    if existing:
        raise CheckpointError(
            f"{directory} already holds {len(existing)} checkpoint(s) of an earlier run "
            f"(newest {existing[-1].name}); a fresh run must not mix with them: choose an "
            "empty folder, or drop --fresh to resume it"
        )


def find_resume_checkpoint(
    runs_root: Path,
    config_stem: str,
    checkpoint_dir: Path | None,
    map_location: str | torch.device = "cpu",
) -> LoadedCheckpoint | None:
    """The checkpoint the previous run of this config stopped at, loaded; None if none reads.

    With ``--checkpoint-dir`` that folder is the only place looked in; otherwise every earlier
    run of this config is. In each folder the newest checkpoint is the catalog's: the newest
    that reads (each file skipped on the way is warned about). Across folders, the one written
    most recently wins.
    """
    folders = (
        [checkpoint_dir]
        if checkpoint_dir is not None
        else sorted((runs_root / config_stem).glob("*/checkpoints"))
    )
    # A folder's newest readable file is no younger than its youngest file: visit folders
    # youngest first and stop once no other folder can beat what was found. Normally one load.
    bounded = [(youngest, folder) for folder in folders if (youngest := _youngest(folder))]
    best: LoadedCheckpoint | None = None
    best_mtime = 0
    for youngest, folder in sorted(bounded, reverse=True):
        if best is not None and youngest <= best_mtime:
            break
        newest = CheckpointCatalog(folder).load_newest(map_location)
        for skipped in newest.skipped:
            log.warning(
                "not resuming from %s: %s; trying the next older checkpoint",
                skipped.path.name,
                skipped.reason,
            )
        found = newest.checkpoint
        mtime = _mtime(found.path) if found is not None else None
        if found is not None and mtime is not None and mtime > best_mtime:
            best, best_mtime = found, mtime
    return best


def _youngest(folder: Path) -> int | None:
    mtimes = [mtime for path in list_checkpoints(folder) if (mtime := _mtime(path)) is not None]
    return max(mtimes, default=None)


def _mtime(path: Path) -> int | None:
    try:
        return path.stat().st_mtime_ns
    except FileNotFoundError:
        return None

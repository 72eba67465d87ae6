"""Where checkpoints live on disk and how they get there without ever being torn.

A checkpoint is one ``.pt`` file holding a plain dict of tensors, numbers, strings and
lists, so ``torch.load(..., weights_only=True)`` can read it without running any pickled
code. Writes go to a temporary file in the same folder, are flushed and fsynced, then
``os.replace``d over the final name and the folder is fsynced: a reader (the live server,
a crashed-and-restarted trainer) sees either the old file or the new one, never half of one.
"""

from __future__ import annotations

import io
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT_VERSION = 1
_NAME_PATTERN = re.compile(r"^ckpt_ep(?P<episode>\d+)_step(?P<step>\d+)\.pt$")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used, with a message that says what to do."""


def checkpoint_name(episode: int, env_step: int) -> str:
    """Zero-padded so names sort in training order."""
    return f"ckpt_ep{episode:09d}_step{env_step:012d}.pt"


def list_checkpoints(directory: Path) -> list[Path]:
    """Finished checkpoints in training order; temporary files are never listed."""
    if not directory.is_dir():
        return []
    found: list[tuple[int, int, Path]] = []
    for entry in directory.iterdir():
        match = _NAME_PATTERN.match(entry.name)
        if match:
            found.append((int(match["step"]), int(match["episode"]), entry))
    return [path for _, _, path in sorted(found)]


def find_latest_checkpoint(directory: Path) -> Path | None:
    checkpoints = list_checkpoints(directory)
    return checkpoints[-1] if checkpoints else None


def save_checkpoint(payload: dict[str, Any], directory: Path, name: str) -> Path:
    """Write ``payload`` to ``directory/name`` atomically and durably; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    buffer = io.BytesIO()
    torch.save({"format_version": CHECKPOINT_FORMAT_VERSION, **payload}, buffer)
    final_path = directory / name
    # The temporary name does not match _NAME_PATTERN, so pollers never pick it up.
    fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", suffix=".partial", dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            tmp_file.write(buffer.getbuffer())
            tmp_file.flush()
            os.fsync(tmp_file.fileno())
        os.replace(tmp_name, final_path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    _fsync_directory(directory)
    return final_path


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load without executing pickled code; reject files from another format version."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint {path} does not exist") from None
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(error).__name__}: {error}); "
            "it may be from another program or damaged: delete it or start with --fresh"
        ) from error
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}, this Townlet reads "
            f"version {CHECKPOINT_FORMAT_VERSION}: start with --fresh or use the matching release"
        )
    return payload


def prune_checkpoints(directory: Path, keep_last: int) -> None:
    """Delete all but the newest ``keep_last`` checkpoints."""
    for old in list_checkpoints(directory)[:-keep_last] if keep_last > 0 else []:
        old.unlink(missing_ok=True)


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable: without it a power cut can lose the new name.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

"""Where checkpoints live on disk and how they get there without ever being torn.

A checkpoint is one ``.pt`` file holding a plain dict of tensors, numbers, strings and
lists, so ``torch.load(..., weights_only=True)`` can read it without running any pickled
code. Writes go to a temporary file in the same folder, are flushed and fsynced, then
``os.replace``d over the final name and the folder is fsynced: a reader (the live server,
a crashed-and-restarted trainer) sees either the old file or the new one, never half of one.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import torch

CHECKPOINT_FORMAT_VERSION = 1
_NAME_PATTERN = re.compile(r"^ckpt_ep(?P<episode>\d+)_step(?P<step>\d+)\.pt$")
# Temporary names never match _NAME_PATTERN, so nothing that lists checkpoints picks them up.
TEMPORARY_PREFIX, TEMPORARY_SUFFIX = ".tmp-", ".partial"


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used, with a message that says what to do."""


class CheckpointMissingError(CheckpointError):
    """The file is gone (pruned or deleted): nothing is wrong with it, there is just none."""


def checkpoint_name(episode: int, env_step: int) -> str:
    """Zero-padded so names sort in training order."""
    return f"ckpt_ep{episode:09d}_step{env_step:012d}.pt"


def played_weights(checkpoint: dict[str, Any]) -> dict[str, Any]:
    """The weights a checkpoint plays (live play, evaluation, a user's script): its policy, a
    moving average of the online weights (``training.policy_average_decay``), or the online
    weights in files written before checkpoints held a policy."""
    return checkpoint["policy"] if "policy" in checkpoint else checkpoint["online"]


def checkpoint_order(path: Path) -> tuple[int, int] | None:
    """(env step, episode): the training order of a checkpoint name; None for other files."""
    match = _NAME_PATTERN.match(path.name)
    return (int(match["step"]), int(match["episode"])) if match else None


def list_checkpoints(directory: Path) -> list[Path]:
    """Files named like checkpoints, in training order; temporary files are never listed.

    Only the name is looked at: whether a file reads is ``CheckpointCatalog``'s business.
    """
    if not directory.is_dir():
        return []
    found: list[tuple[tuple[int, int], Path]] = []
    for entry in directory.iterdir():
        order = checkpoint_order(entry)
        if order is not None:
            found.append((order, entry))
    return [path for _, path in sorted(found)]


def list_temporaries(directory: Path) -> list[Path]:
    """Temporary files of saves in progress, or of saves a crash interrupted."""
    if not directory.is_dir():
        return []
    return sorted(directory.glob(f"{TEMPORARY_PREFIX}*{TEMPORARY_SUFFIX}"))


def save_checkpoint(payload: dict[str, Any], directory: Path, name: str) -> Path:
    """Write ``payload`` to ``directory/name`` atomically and durably; returns the path."""
    directory.mkdir(parents=True, exist_ok=True)
    final_path = directory / name
    fd, tmp_name = tempfile.mkstemp(prefix=TEMPORARY_PREFIX, suffix=TEMPORARY_SUFFIX, dir=directory)
    try:
        with os.fdopen(fd, "wb") as tmp_file:
            # Straight to the file, chunk by chunk: no second copy of a large replay buffer in
            # memory, and the GIL is released during each write, so Ctrl+C is seen at once.
            torch.save({"format_version": CHECKPOINT_FORMAT_VERSION, **payload}, tmp_file)
            tmp_file.flush()
            os.fsync(tmp_file.fileno())
        os.replace(tmp_name, final_path)
    except BaseException as error:
        # A full disk fails the write or the fsync: the half-written temporary goes, the
        # checkpoints already in the folder were never touched.
        Path(tmp_name).unlink(missing_ok=True)
        behind = _os_error_behind(error)
        if behind is not None and behind is not error:
            # torch's archive writer turns a write that ran out of space into a RuntimeError
            # ("unexpected pos ...") when it closes the archive; the disk's own error is the
            # one the caller can act on (warn and retry) rather than a crash of training.
            raise behind from error
        raise
    _fsync_directory(directory)
    return final_path


def _os_error_behind(error: BaseException) -> OSError | None:
    """The OSError that ``error`` is, or was raised while handling, if any."""
    if not isinstance(error, Exception):
        return None  # KeyboardInterrupt and friends go through as they are
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        if isinstance(current, OSError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load without executing pickled code; reject files from another format version."""
    payload = _load_one_file(path, map_location)
    version = payload.get("format_version") if isinstance(payload, dict) else None
    if version != CHECKPOINT_FORMAT_VERSION:
        raise CheckpointError(
            f"checkpoint {path} has format version {version!r}, this Townlet reads "
            f"version {CHECKPOINT_FORMAT_VERSION}: start with --fresh or use the matching release"
        )
    return payload


def _load_one_file(path: Path, map_location: str | torch.device) -> Any:
    """``torch.load`` with ``mmap``: tensors are read when touched, so checking a file, or taking
    the weights out of one that also holds a large replay buffer, costs milliseconds.

    torch opens the path twice (the archive, then the mapping), so a save replacing the file in
    between could mix two files. Saves replace by rename, never in place: the same file
    identity before and after the load proves both opens saw one file.
    """
    try:
        for _ in range(3):
            before = _identity(path)
            payload = torch.load(path, map_location=map_location, weights_only=True, mmap=True)
            if _identity(path) == before:
                return payload
    except FileNotFoundError:
        raise CheckpointMissingError(f"checkpoint {path} does not exist") from None
    except Exception as error:
        raise CheckpointError(
            f"checkpoint {path} could not be read ({type(error).__name__}: {error}); "
            "it may be from another program or damaged: delete it or start with --fresh"
        ) from error
    raise CheckpointError(f"checkpoint {path} kept being replaced while it was read")


def _identity(path: Path) -> tuple[int, int, int, int]:
    status = os.stat(path)
    return status.st_dev, status.st_ino, status.st_size, status.st_mtime_ns


def _fsync_directory(directory: Path) -> None:
    # Makes the rename itself durable: without it a power cut can lose the new name.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)

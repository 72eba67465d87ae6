"""Which checkpoints in one folder count: one answer for resume, pruning and live play.

"The newest checkpoint" means the same thing everywhere: the last file in training order that
reads. A file reads when it loads with ``weights_only=True``, has this Townlet's format version
and, where the catalog knows the world, takes that world's observation size. Anything else in
the folder (a truncated copy, garbage bytes, a checkpoint of another level) is rejected once,
remembered, and then ignored: it is never played, never resumed, never counted toward
``keep_last`` and never deleted (it is not ours to delete).

A verdict is remembered per file version (name, size, mtime): a file rewritten in place is
looked at again. Files the trainer wrote itself are accepted without being read back.

The trainer prunes; the live player pins the file it plays and pruning leaves it alone. Pins
are held by name ("live", later "best"), so each holder moves its own pin without knowing about
the others. When the player runs in another process (live/server_process.py), its catalog
reports every change of its pins (``watch_pins``) and the trainer's catalog holds them under
one prefix (``replace_pins``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from townlet.checkpoints.milestones import milestones
from townlet.checkpoints.store import (
    CheckpointError,
    CheckpointMissingError,
    list_checkpoints,
    list_temporaries,
    load_checkpoint,
)


class RejectedCheckpoint(CheckpointError):
    """A checkpoint file that does not read; ``first_time`` is False once it was reported."""

    def __init__(self, path: Path, reason: str, first_time: bool) -> None:
        super().__init__(reason)
        self.path = path
        self.reason = reason
        self.first_time = first_time


@dataclass(frozen=True)
class Rejection:
    path: Path
    reason: str


@dataclass(frozen=True)
class LoadedCheckpoint:
    path: Path
    state: dict[str, Any]


@dataclass
class NewestLoad:
    """The newest checkpoint that reads (None if none does) and the files skipped on the way.

    ``skipped`` lists only files rejected for the first time, so each is reported once.
    """

    checkpoint: LoadedCheckpoint | None
    skipped: list[Rejection] = field(default_factory=list)


@dataclass
class PruneReport:
    deleted: list[Path] = field(default_factory=list)
    rejected: list[Rejection] = field(default_factory=list)  # first time only
    not_deleted: list[Rejection] = field(default_factory=list)  # the unlink itself failed


@dataclass(frozen=True)
class _Verdict:
    size: int
    mtime_ns: int
    good: bool
    run_id: str | None = None
    reason: str = ""


def _stamp(path: Path) -> tuple[int, int] | None:
    """(size, mtime in ns): what tells one version of a file from the next."""
    try:
        stat = path.stat()
    except FileNotFoundError:
        return None
    return stat.st_size, stat.st_mtime_ns


def read_checkpoint(
    path: Path, obs_dim: int | None = None, map_location: str | torch.device = "cpu"
) -> dict[str, Any]:
    """Load and check a checkpoint; raises ``CheckpointError`` saying why it is unusable.

    With ``obs_dim`` the checkpoint must also describe a network for that observation size.
    """
    state = load_checkpoint(path, map_location=map_location)
    if obs_dim is None:
        return state
    try:
        saved_obs_dim = int(state["model_args"]["obs_dim"])
    except (KeyError, TypeError, ValueError):
        raise CheckpointError(
            f"{path.name} has no model description (model_args): it is not a Townlet checkpoint"
        ) from None
    if saved_obs_dim != obs_dim:
        raise CheckpointError(
            f"{path.name} expects {saved_obs_dim} observation features but this config's "
            f"world gives {obs_dim}: it belongs to another level or layout"
        )
    return state


class CheckpointCatalog:
    """Thread-safe bookkeeping for one checkpoint folder; see the module docstring."""

    def __init__(self, directory: Path, obs_dim: int | None = None) -> None:
        self.directory = directory
        self.obs_dim = obs_dim
        self._lock = threading.Lock()
        self._verdicts: dict[str, _Verdict] = {}
        self._pins: dict[str, Path] = {}
        self._pin_watchers: list[Callable[[set[Path]], None]] = []

    # ------------------------------------------------------------- listing
    def candidates(self) -> list[Path]:
        """Checkpoint files in training order, those known not to read left out."""
        return [path for path, verdict in self._listing() if verdict is None or verdict.good]

    def readable(self) -> list[Path]:
        """Checkpoints known to read, in training order (files not judged yet are left out)."""
        return [path for path, verdict in self._listing() if verdict is not None and verdict.good]

    def milestones(self) -> set[Path]:
        """The readable checkpoints that are never pruned (see milestones.py)."""
        return milestones(self.readable())

    def newest(self, *, verified: bool = False) -> Path | None:
        """The newest candidate; with ``verified`` the newest one known to read.

        Nothing is loaded here, so it is cheap enough for an event loop: ``verified`` answers
        with what the trainer wrote and what readers have checked so far.
        """
        for path, verdict in reversed(self._listing()):
            if verdict is None and not verified:
                return path
            if verdict is not None and verdict.good:
                return path
        return None

    def _listing(self) -> list[tuple[Path, _Verdict | None]]:
        listing: list[tuple[Path, _Verdict | None]] = []
        for path in list_checkpoints(self.directory):
            stamp = _stamp(path)
            if stamp is None:
                continue  # pruned while we looked
            with self._lock:
                verdict = self._verdicts.get(path.name)
            if verdict is not None and (verdict.size, verdict.mtime_ns) != stamp:
                verdict = None  # rewritten since: judge it afresh
            listing.append((path, verdict))
        return listing

    # ------------------------------------------------------------ verdicts
    def accept(self, path: Path, run_id: str | None) -> None:
        """Record that the current version of ``path`` reads (and which run wrote it)."""
        stamp = _stamp(path)
        if stamp is not None:
            self._record(path, _Verdict(*stamp, good=True, run_id=run_id))

    def reject(self, path: Path, reason: str) -> bool:
        """Record that the current version of ``path`` does not read; True the first time."""
        stamp = _stamp(path)
        return stamp is not None and self._record(path, _Verdict(*stamp, good=False, reason=reason))

    def _record(self, path: Path, verdict: _Verdict) -> bool:
        """Store a verdict; True when it is news (this version was not rejected before)."""
        with self._lock:
            before = self._verdicts.get(path.name)
            self._verdicts[path.name] = verdict
        return (
            before is None
            or before.good != verdict.good
            or (before.size, before.mtime_ns) != (verdict.size, verdict.mtime_ns)
        )

    def _forget(self, path: Path) -> None:
        with self._lock:
            self._verdicts.pop(path.name, None)

    def read(self, path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
        """Load ``path`` and record the verdict.

        Raises ``CheckpointMissingError`` when the file is gone and ``RejectedCheckpoint``
        when it does not read.
        """
        # Stamped before loading: if the file is replaced while we read, the verdict is filed
        # under the old version and the new one is judged afresh.
        stamp = _stamp(path)
        try:
            if stamp is None:
                raise CheckpointMissingError(f"checkpoint {path} does not exist")
            state = read_checkpoint(path, self.obs_dim, map_location)
        except CheckpointMissingError:
            self._forget(path)
            raise
        except CheckpointError as error:
            news = self._record(path, _Verdict(*stamp, good=False, reason=str(error)))
            raise RejectedCheckpoint(path, str(error), first_time=news) from error
        run_id = state.get("run_id")
        self._record(
            path, _Verdict(*stamp, good=True, run_id=run_id if isinstance(run_id, str) else None)
        )
        return state

    def load_newest(self, map_location: str | torch.device = "cpu") -> NewestLoad:
        """Walk down from the newest candidate to the first file that reads."""
        result = NewestLoad(checkpoint=None)
        for path in reversed(self.candidates()):
            try:
                state = self.read(path, map_location)
            except CheckpointMissingError:
                continue
            except RejectedCheckpoint as rejection:
                if rejection.first_time:
                    result.skipped.append(Rejection(path, rejection.reason))
                continue
            result.checkpoint = LoadedCheckpoint(path, state)
            return result
        return result

    # ---------------------------------------------------------------- pins
    def pin(self, holder: str, path: Path) -> None:
        """Keep ``path`` from being pruned until ``holder`` pins another file or unpins."""
        with self._lock:
            changed = self._pins.get(holder) != path
            self._pins[holder] = path
        if changed:
            self._tell_pin_watchers()

    def unpin(self, holder: str) -> None:
        with self._lock:
            changed = self._pins.pop(holder, None) is not None
        if changed:
            self._tell_pin_watchers()

    def replace_pins(self, prefix: str, paths: Iterable[Path]) -> None:
        """Hold exactly ``paths`` under holders named ``prefix``..., in one step (a pruning
        pass never sees the old set gone and the new one not yet there)."""
        with self._lock:
            for holder in [holder for holder in self._pins if holder.startswith(prefix)]:
                del self._pins[holder]
            for index, path in enumerate(sorted(set(paths))):
                self._pins[f"{prefix}{index}"] = path

    def watch_pins(self, watcher: Callable[[set[Path]], None]) -> None:
        """Call ``watcher`` with every pinned file after each change (from the changer's
        thread, outside the lock)."""
        self._pin_watchers.append(watcher)

    def _tell_pin_watchers(self) -> None:
        if self._pin_watchers:
            pinned = self.pinned()
            for watcher in self._pin_watchers:
                watcher(pinned)

    def pinned(self) -> set[Path]:
        with self._lock:
            return set(self._pins.values())

    # ------------------------------------------------------------- pruning
    def prune(self, keep_last: int, run_id: str | None) -> PruneReport:
        """Delete all but the newest ``keep_last`` readable checkpoints of run ``run_id``.

        Files of other runs (or without a run id when ``run_id`` is given), files that do not
        read and pinned files are neither counted nor deleted. ``run_id=None`` counts every
        readable checkpoint in the folder. Files not judged yet are read once, here.
        """
        report = PruneReport()
        if keep_last <= 0:
            return report
        for path, verdict in self._listing():
            if verdict is None:
                try:
                    self.read(path)
                except CheckpointMissingError:
                    pass
                except RejectedCheckpoint as rejection:
                    if rejection.first_time:
                        report.rejected.append(Rejection(path, rejection.reason))
        ours = [
            path
            for path, verdict in self._listing()
            if verdict is not None and verdict.good and (run_id is None or verdict.run_id == run_id)
        ]
        kept_for_good = milestones(self.readable())
        # Under the lock, so a reader cannot pin a file between our check and the unlink.
        with self._lock:
            pinned = set(self._pins.values())
            for path in ours[:-keep_last]:
                if path in pinned or path in kept_for_good:
                    continue
                try:
                    path.unlink(missing_ok=True)
                except OSError as error:
                    report.not_deleted.append(Rejection(path, str(error)))
                    continue
                self._verdicts.pop(path.name, None)
                report.deleted.append(path)
        return report

    # --------------------------------------------------------- housekeeping
    def remove_stale_temporaries(self) -> list[Path]:
        """Delete half-written files a crash mid-save left; only call with no save running."""
        removed = []
        for temporary in list_temporaries(self.directory):
            try:
                temporary.unlink()
            except FileNotFoundError:
                continue
            removed.append(temporary)
        return removed


def find_latest_checkpoint(directory: Path) -> Path | None:
    """The newest checkpoint in ``directory`` that reads (files are loaded to check)."""
    loaded = CheckpointCatalog(directory).load_newest().checkpoint
    return loaded.path if loaded is not None else None


def prune_checkpoints(directory: Path, keep_last: int) -> PruneReport:
    """Keep the newest ``keep_last`` readable checkpoints of any run; see ``prune``."""
    return CheckpointCatalog(directory).prune(keep_last, run_id=None)

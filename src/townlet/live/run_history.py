"""The run's training figures and evaluations, as the page charts them.

They come from the run folder: ``metrics.jsonl`` (the trainer's raw log, a line a second) and
``evaluations.jsonl`` (the evaluator's). ``poll`` reads what was added, stores it in the run's
``history.sqlite`` (monitoring/history.py: points thinned as they age, evaluations all kept)
together with how far it read each file, and hands it out as messages; ``history``, what a page
that connects gets, reads the database. So a page opened now, after a reload, by a second
viewer, or on a resumed run (whose folder starts with the part of its history that its
checkpoint continues) sees the whole history, and a restarted server carries on where the last
one stopped reading, neither repeating nor missing a point.

Without a usable database (it could not be opened or written: warned once) the history is
kept in memory instead, read again from the logs' start and thinned the same way.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel

from townlet.live.protocol import Evaluation, Metrics, MetricsHistory
from townlet.monitoring.history import TRAINING_TIERS, HistoryStore, downsample, thin_by_age
from townlet.run_records import (
    EvaluationPoint,
    MetricPoint,
    RecordTail,
    TailChunk,
    TailPosition,
    evaluation_log,
    metrics_log,
)

__all__ = ["HISTORY_POINTS", "RunHistory", "downsample"]

Record = TypeVar("Record", bound=BaseModel)

# Points sent to a page that connects: enough for a smooth curve at any zoom a screen shows,
# few enough that a days-long run's history is one quick message (~150 bytes a point).
HISTORY_POINTS = 4000
# A backlog (a server started on a long run) is stored a megabyte (~4,000 points) a
# transaction: a page's greeting or a system sample never waits long behind it.
CHUNK_BYTES = 1 << 20
THIN_MEMORY_EVERY = 3600  # points added between two thinnings of the in-memory history


class RunHistory:
    """Follows one run folder's records; ``poll`` hands out what is new since the last call.

    ``poll`` runs in a worker thread (one at a time), ``history`` and the attributes are read
    on the event loop: lists are replaced, not changed, or read under the lock.
    """

    def __init__(self, run_dir: Path | None) -> None:
        self.run_dir = run_dir
        # No folder (yet): no database to keep (some tests), memory only.
        self.store = HistoryStore(run_dir) if run_dir is not None and run_dir.is_dir() else None
        self._stored = self.store is not None and self.store.available
        # Every evaluation (few, never thinned): the alert rules and the best checkpoint.
        self.evaluations: list[EvaluationPoint] = []
        self.newest: MetricPoint | None = None
        self.newest_td_loss: float | None = None  # the newest one reported (NaN included)
        self._tails: tuple[RecordTail[MetricPoint], RecordTail[EvaluationPoint]] | None = None
        self._closed = False
        # Without a database: the points, thinned as the database would, and their count.
        self._lock = threading.Lock()
        self._points: list[MetricPoint] = []
        self._total = 0
        self._thin_at = THIN_MEMORY_EVERY

    def poll(self) -> tuple[Metrics | MetricsHistory | None, list[Evaluation]]:
        """Read and keep what the trainer and the evaluator added; the messages that announce
        it. Pages are sent the whole history instead when a log was read again from its start
        or a long backlog was read (a server started on a long run)."""
        if self.run_dir is None or self._closed:
            return None, []
        if self._tails is None:
            self._open(self.run_dir)
        elif self._stored and (self.store is None or not self.store.available):
            return self._fall_back(self.run_dir)  # failed for the system panel's writes
        read = self._read_new()
        if read is None:
            return self._fall_back(self.run_dir)
        points, evaluations, whole = read
        if whole:
            return self.history(), []
        metrics = Metrics(points=points) if points else None
        return metrics, [Evaluation(evaluation=point) for point in evaluations]

    def history(self, limit: int | None = None) -> MetricsHistory:
        limit = HISTORY_POINTS if limit is None else limit
        if self._stored and self.store is not None:
            stored = self.store.training_history(limit)
            if stored is not None:
                points, total, evaluations = stored
                return MetricsHistory(points=points, total_points=total, evaluations=evaluations)
            # The database just failed (warned): the next poll keeps the history in memory.
        with self._lock:
            return MetricsHistory(
                points=downsample(self._points, limit),
                total_points=self._total,
                evaluations=list(self.evaluations),
            )

    def evaluation_of(self, checkpoint: str) -> EvaluationPoint | None:
        return next((e for e in reversed(self.evaluations) if e.checkpoint == checkpoint), None)

    def close(self) -> None:
        self._closed = True
        if self.store is not None:
            self.store.close()

    # ------------------------------------------------------------ reading and keeping
    def _open(self, run_dir: Path) -> None:
        """The first poll: carry on from where the database says the last reader stopped."""
        metrics, evaluations = metrics_log(run_dir), evaluation_log(run_dir)
        if self._stored and self.store is not None:
            read_metrics = self.store.position("metrics")
            read_evaluations = self.store.position("evaluations")
            stored_evaluations = self.store.evaluations()
            newest = self.store.newest_point()
            if (
                read_metrics is not None
                and read_evaluations is not None
                and stored_evaluations is not None
                and newest is not None
            ):
                self._tails = (
                    RecordTail(metrics, read_metrics),
                    RecordTail(evaluations, read_evaluations),
                )
                self.evaluations = stored_evaluations
                self.newest, self.newest_td_loss = newest
                return
        self._stored = False
        self._tails = (RecordTail(metrics), RecordTail(evaluations))

    def _fall_back(self, run_dir: Path) -> tuple[MetricsHistory | None, list[Evaluation]]:
        """The database failed (warned): the history in memory from here on, read again from
        the logs' start; pages get it whole."""
        if self._closed:  # closed while this poll ran: the server is stopping
            return None, []
        self._stored = False
        with self._lock:
            self._points, self._total, self._thin_at = [], 0, THIN_MEMORY_EVERY
        self.evaluations, self.newest, self.newest_td_loss = [], None, None
        self._tails = (RecordTail(metrics_log(run_dir)), RecordTail(evaluation_log(run_dir)))
        self._read_new()  # memory only: cannot fail
        return self.history(), []

    def _read_new(self) -> tuple[list[MetricPoint], list[EvaluationPoint], bool] | None:
        """What each log gained, kept; and whether pages need the whole history again. None:
        the database failed."""
        assert self._tails is not None
        metrics, evaluations = self._tails
        whole = False
        new_evaluations: list[EvaluationPoint] = []
        for chunk in _chunks(evaluations):
            if not self._keep_evaluations(chunk, evaluations.position):
                return None
            whole = whole or chunk.started_over
            new_evaluations += chunk.records
        # The points last: a page that connects between their commit and their broadcast is
        # sent them twice (it keeps each once), so that stretch is kept short.
        points: list[MetricPoint] = []
        for chunk in _chunks(metrics):
            if not self._keep_points(chunk, metrics.position):
                return None
            whole = whole or chunk.started_over or len(points) + len(chunk.records) > HISTORY_POINTS
            if not whole:
                points += chunk.records
        return points, new_evaluations, whole

    def _keep_points(self, chunk: TailChunk[MetricPoint], position: TailPosition) -> bool:
        if chunk.started_over:
            self.newest = self.newest_td_loss = None
        for point in chunk.records:
            self.newest = point
            if point.td_loss is not None:
                self.newest_td_loss = point.td_loss
        if self._stored and self.store is not None:
            return self.store.ingest(
                "metrics", chunk.records, position, started_over=chunk.started_over
            )
        with self._lock:
            if chunk.started_over:
                self._points, self._total, self._thin_at = [], 0, THIN_MEMORY_EVERY
            self._points.extend(chunk.records)
            self._total += len(chunk.records)
            if len(self._points) >= self._thin_at and self.newest is not None:
                self._points = thin_by_age(
                    self._points, self.newest.wall_time, TRAINING_TIERS, _wall_time
                )
                self._thin_at = len(self._points) + THIN_MEMORY_EVERY
        return True

    def _keep_evaluations(self, chunk: TailChunk[EvaluationPoint], position: TailPosition) -> bool:
        if (
            self._stored
            and self.store is not None
            and not self.store.ingest(
                "evaluations", chunk.records, position, started_over=chunk.started_over
            )
        ):
            return False
        # A new list: the event loop may be reading the old one.
        self.evaluations = ([] if chunk.started_over else self.evaluations) + chunk.records
        return True


def _chunks(tail: RecordTail[Record]) -> Iterator[TailChunk[Record]]:
    """What the log gained, a piece at a time (only pieces that moved the position)."""
    while True:
        before = tail.position
        chunk = tail.read_chunk(CHUNK_BYTES)
        if chunk.started_over or tail.position != before:
            yield chunk
        if chunk.at_end:
            return


def _wall_time(point: MetricPoint) -> float:
    return point.wall_time

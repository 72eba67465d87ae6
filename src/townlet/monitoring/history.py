"""The run's history in SQLite (``<run folder>/history.sqlite``), thinned as it ages.

One file, one schema (``SCHEMA_VERSION``, migrated forward on open), one connection behind a
lock for the live server's threads. It holds what the page charts, so a reload, a second
viewer and a resumed run see all of it:

- the system panel's samples (written by the monitor every 2 s): every sample of the last hour,
  then one a minute;
- the training charts' points and the greedy evaluations, stored by ``RunHistory`` (live/
  run_history.py) from ``metrics.jsonl`` and ``evaluations.jsonl`` as it reads them, with how
  far it read each file. The files stay the trainer's and the evaluator's raw logs; this is
  what the page reads. Evaluations are all kept; points are thinned (``TRAINING_TIERS``).

Thinning is incremental: each table remembers how far back each tier has been thinned, so a
pass only looks at the rows that aged into a tier since the last one. A history that cannot be
written is a warning, never a reason to stop serving: its users fall back to memory.
"""

from __future__ import annotations

import logging
import math
import sqlite3
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from townlet.monitoring.system import SystemSample
from townlet.run_records import EvaluationPoint, MetricPoint, TailPosition, record_json

log = logging.getLogger("townlet.inference")

Result = TypeVar("Result")
Item = TypeVar("Item")
Model = TypeVar("Model", bound=BaseModel)

HISTORY_FILE = "history.sqlite"


@dataclass(frozen=True)
class Tier:
    """Rows older than ``age`` seconds keep one row (the first) per ``every`` seconds.

    The age is rounded down to a whole bucket (``cutoff``), so no bucket is split between two
    tiers and thinning a piece at a time keeps the rows that thinning all at once would; for
    that too, a coarser tier's ``every`` is a multiple of the finer one's.
    """

    age: float
    every: float

    def cutoff(self, now: float) -> float:
        """Rows before this time are thinned at this tier."""
        return bucket_of(now - self.age, self.every) * self.every


SYSTEM_TIERS = (Tier(3600.0, 60.0),)  # a day is about 3,200 samples
# The trainer reports about once a second. The last hour whole: the page zoomed on what
# training does now shows every reporting window. Then one per 10 s up to a day, then one a
# minute: about 3,600 points for the last hour, 8,300 for the rest of the day and 1,440 for
# each day before (a week-long run is ~20,000 rows, a few MB, read in a few ms), and finer
# everywhere than 4,000 points spread evenly over the run's time, what a page is sent, would
# be (a day-old run: one per ~22 s; a week-old one: ~150 s). Age is counted back from the
# newest point (the run's own clock), not from now, so a run looked at days after it stopped
# still shows its last hour whole.
TRAINING_TIERS = (Tier(3600.0, 10.0), Tier(86400.0, 60.0))

SCHEMA_VERSION = 2
_MIGRATIONS = (
    # 1: the system panel's samples (files from before versions were counted hold just this).
    """
    CREATE TABLE IF NOT EXISTS system_samples (t REAL NOT NULL, sample TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS system_samples_by_time ON system_samples (t);
    """,
    # 2: the training charts: each record as its line holds it, in file order (id); how far
    # each log was read (``read_to``, the line before it as ``mark``) and how many records
    # that was; how far back each table was thinned at each tier.
    """
    CREATE TABLE IF NOT EXISTS training_points
        (id INTEGER PRIMARY KEY, t REAL NOT NULL, record TEXT NOT NULL);
    CREATE INDEX IF NOT EXISTS training_points_by_time ON training_points (t);
    CREATE TABLE IF NOT EXISTS evaluations
        (id INTEGER PRIMARY KEY, t REAL NOT NULL, record TEXT NOT NULL);
    CREATE TABLE IF NOT EXISTS ingested (log TEXT PRIMARY KEY, read_to INTEGER NOT NULL,
        mark BLOB NOT NULL, records INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS thinned (tbl TEXT NOT NULL, every REAL NOT NULL,
        before REAL NOT NULL, PRIMARY KEY (tbl, every));
    """,
)

# Which table keeps each log's records (``RunHistory`` names the logs), thinned how.
LOG_TABLES: dict[str, tuple[str, tuple[Tier, ...]]] = {
    "metrics": ("training_points", TRAINING_TIERS),
    "evaluations": ("evaluations", ()),  # every one is kept
}


def downsample(points: list[Item], limit: int) -> list[Item]:
    """At most ``limit`` points, evenly spread over the run, always keeping the newest.

    Real samples are kept (not averages), so a value on the chart is one the trainer reported.
    """
    if len(points) <= limit:
        return list(points)
    if limit <= 1:
        return points[-limit:] if limit == 1 else []
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


def bucket_of(t: float, every: float) -> int:
    """The bucket a time falls in, worked out as SQLite does (``CAST(t / every AS INTEGER)``,
    not ``t // every``, which disagrees with it just below a bucket's edge)."""
    return int(t / every)


def thin_by_age(
    items: list[Item], now: float, tiers: Sequence[Tier], time_of: Callable[[Item], float]
) -> list[Item]:
    """The database's thinning, for a copy kept in memory (oldest first): the first item of
    each bucket of its tier, and the newest whatever its age."""
    cutoffs = [(tier.cutoff(now), tier) for tier in tiers]
    kept: list[Item] = []
    last_bucket: tuple[float, int] | None = None
    for index, item in enumerate(items):
        t = time_of(item)
        every = next((tier.every for cutoff, tier in reversed(cutoffs) if t < cutoff), None)
        if every is None or index == len(items) - 1:
            kept.append(item)
            continue
        bucket = (every, bucket_of(t, every))
        if bucket != last_bucket:
            kept.append(item)
            last_bucket = bucket
    return kept


class HistoryStore:
    """One run's history.sqlite. Each method is one transaction; one that fails turns the
    store off (``available``), with one warning, and returns None (False for writes)."""

    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / HISTORY_FILE
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
            try:
                _migrate(connection)
            except sqlite3.Error:
                connection.close()
                raise
            self._connection = connection
        except sqlite3.Error as error:
            self._give_up("open", error)

    @property
    def available(self) -> bool:
        """False once the file could not be opened, read or written (or after ``close``)."""
        return self._connection is not None

    # ------------------------------------------------------------ the system panel
    def load(self) -> list[SystemSample]:
        """Every kept sample, oldest first (rows that do not parse are skipped)."""
        rows = self._run(
            "read", lambda db: db.execute("SELECT sample FROM system_samples ORDER BY t").fetchall()
        )
        return _parse(SystemSample, [text for (text,) in rows or []])

    def add(self, sample: SystemSample) -> None:
        self._run(
            "write",
            lambda db: db.execute(
                "INSERT INTO system_samples (t, sample) VALUES (?, ?)",
                (sample.t, sample.model_dump_json()),
            ),
        )

    def thin(self, now: float) -> None:
        self._run("thin", lambda db: _thin(db, "system_samples", SYSTEM_TIERS, now))

    # ------------------------------------------------------------ the training charts
    def position(self, log_name: str) -> TailPosition | None:
        """Where reading ``log_name`` stopped (the start when never read); None: no database."""

        def read(db: sqlite3.Connection) -> TailPosition:
            row = db.execute(
                "SELECT read_to, mark FROM ingested WHERE log = ?", (log_name,)
            ).fetchone()
            return TailPosition(row[0], bytes(row[1])) if row else TailPosition(0, b"")

        return self._run("read", read)

    def ingest(
        self,
        log_name: str,
        records: Sequence[MetricPoint | EvaluationPoint],
        position: TailPosition,
        *,
        started_over: bool,
    ) -> bool:
        """Store records read from ``log_name`` and where reading stopped, and thin the table
        as of the newest record, in one transaction (a restart neither repeats nor misses a
        record). ``started_over``: the log was read again from its start (replaced or cut), so
        what was stored from it goes. False: the database failed (warned)."""
        table, tiers = LOG_TABLES[log_name]
        rows = [(record.wall_time, record_json(record)) for record in records]

        def write(db: sqlite3.Connection) -> bool:
            stored = 0
            if started_over:
                db.execute(f"DELETE FROM {table}")
                db.execute("DELETE FROM thinned WHERE tbl = ?", (table,))
            else:
                row = db.execute(
                    "SELECT records FROM ingested WHERE log = ?", (log_name,)
                ).fetchone()
                stored = row[0] if row else 0
            db.executemany(f"INSERT INTO {table} (t, record) VALUES (?, ?)", rows)
            if rows:  # rows older than a tier's thinned mark (a clock set back): look again
                oldest = min(t for t, _ in rows)
                db.execute(
                    "UPDATE thinned SET before = MIN(before, ?) WHERE tbl = ?", (oldest, table)
                )
            db.execute(
                "INSERT OR REPLACE INTO ingested (log, read_to, mark, records) VALUES (?, ?, ?, ?)",
                (log_name, position.offset, position.mark, stored + len(rows)),
            )
            if rows:  # as each piece is stored, so a long backlog never fills the file first
                _thin(db, table, tiers, records[-1].wall_time)
            return True

        return self._run("write", write) is True

    def thin_training(self, now: float) -> bool:
        """Thin the training points as of ``now`` (``ingest`` does, as of the newest point)."""
        return self._run("thin", lambda db: _thin(db, "training_points", TRAINING_TIERS, now))

    def training_history(
        self, limit: int
    ) -> tuple[list[MetricPoint], int, list[EvaluationPoint]] | None:
        """The kept points downsampled to ``limit``, how many points were ever stored (the
        reports the run made), and every evaluation; None: the database failed (warned)."""

        def read(db: sqlite3.Connection) -> tuple[list[str], int, list[str]]:
            points = [
                text for (text,) in db.execute("SELECT record FROM training_points ORDER BY id")
            ]
            total = db.execute("SELECT records FROM ingested WHERE log = 'metrics'").fetchone()
            evaluations = [
                text for (text,) in db.execute("SELECT record FROM evaluations ORDER BY id")
            ]
            return points, total[0] if total else len(points), evaluations

        got = self._run("read", read)
        if got is None:
            return None
        points, total, evaluations = got
        return (
            _parse(MetricPoint, downsample(points, limit)),
            total,
            _parse(EvaluationPoint, evaluations),
        )

    def evaluations(self) -> list[EvaluationPoint] | None:
        rows = self._run(
            "read", lambda db: db.execute("SELECT record FROM evaluations ORDER BY id").fetchall()
        )
        return None if rows is None else _parse(EvaluationPoint, [text for (text,) in rows])

    def newest_point(self) -> tuple[MetricPoint | None, float | None] | None:
        """The newest stored point and the newest TD loss reported (a point may have none)."""

        def read(db: sqlite3.Connection) -> tuple[MetricPoint | None, float | None]:
            newest: MetricPoint | None = None
            for (text,) in db.execute("SELECT record FROM training_points ORDER BY id DESC"):
                try:
                    point = MetricPoint.model_validate_json(text)
                except ValidationError:
                    continue
                if newest is None:
                    newest = point
                if point.td_loss is not None:
                    return newest, point.td_loss
            return newest, None

        return self._run("read", read)

    # ------------------------------------------------------------ plumbing
    def close(self) -> None:
        with self._lock:
            if self._connection is not None:
                self._connection.close()
                self._connection = None

    def _run(self, action: str, work: Callable[[sqlite3.Connection], Result]) -> Result | None:
        with self._lock:
            if self._connection is None:
                return None
            try:
                with self._connection:  # one transaction, committed on success
                    return work(self._connection)
            except sqlite3.Error as error:
                self._give_up(action, error)
                return None

    def _give_up(self, action: str, error: sqlite3.Error) -> None:
        log.warning(
            "run history off: could not %s %s (%s); the training charts keep their history in "
            "memory and the system panel shows this session only",
            action,
            self.path,
            error,
        )
        if self._connection is not None:
            self._connection.close()
        self._connection = None


def _migrate(db: sqlite3.Connection) -> None:
    version = db.execute("PRAGMA user_version").fetchone()[0]
    if version > SCHEMA_VERSION:
        raise sqlite3.DatabaseError(
            f"its schema is version {version}, newer than this townlet's {SCHEMA_VERSION}"
        )
    for number in range(version + 1, SCHEMA_VERSION + 1):
        db.executescript(
            f"BEGIN; {_MIGRATIONS[number - 1]} PRAGMA user_version = {number}; COMMIT;"
        )


def _thin(db: sqlite3.Connection, table: str, tiers: Sequence[Tier], now: float) -> bool:
    """Per tier, finest first: among the rows that aged into it since the last pass, keep the
    first of each bucket; never the newest row. The same rows stay as if the whole table were
    thinned at once (``thin_by_age``)."""
    for tier in tiers:
        cutoff = tier.cutoff(now)
        row = db.execute(
            "SELECT before FROM thinned WHERE tbl = ? AND every = ?", (table, tier.every)
        ).fetchone()
        done = row[0] if row else -math.inf
        if cutoff <= done:
            continue
        # One bucket back from where the last pass stopped: that bucket is down to one row
        # already, so this only makes sure a row on a bucket's edge (floating point) is seen.
        start = (bucket_of(done, tier.every) - 1) * tier.every if row else -math.inf
        db.execute(
            f"DELETE FROM {table} WHERE t >= :start AND t < :cutoff"
            f" AND rowid != (SELECT MAX(rowid) FROM {table})"
            f" AND rowid NOT IN (SELECT MIN(rowid) FROM {table}"
            "  WHERE t >= :start AND t < :cutoff GROUP BY CAST(t / :every AS INTEGER))",
            {"start": start, "cutoff": cutoff, "every": tier.every},
        )
        db.execute(
            "INSERT OR REPLACE INTO thinned (tbl, every, before) VALUES (?, ?, ?)",
            (table, tier.every, cutoff),
        )
    return True


def _parse(model: type[Model], texts: list[str]) -> list[Model]:
    """The rows that parse (one that does not, from a damaged file, is left out)."""
    parsed = []
    for text in texts:
        try:
            parsed.append(model.model_validate_json(text))
        except ValidationError:
            continue
    return parsed


def copy_history(earlier: Path, run_dir: Path) -> None:
    """A resumed run in a new folder starts with the earlier run's history.

    The training part goes on from where the earlier run's server had read its logs, if the
    new folder's copies hold the same lines there; where they do not (the earlier run wrote
    past the checkpoint this run resumes from), ``RunHistory`` finds that out on its first
    read and stores the new folder's logs again from their start.
    """
    source = earlier / HISTORY_FILE
    if not source.exists() or (run_dir / HISTORY_FILE).exists():
        return
    with sqlite3.connect(source) as old, sqlite3.connect(run_dir / HISTORY_FILE) as new:
        old.backup(new)  # consistent even if a WAL or journal was left behind
    old.close()
    new.close()

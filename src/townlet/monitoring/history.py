"""The run's system history in SQLite (``<run folder>/history.sqlite``), thinned as it ages.

Every sample of the last hour is kept, then one a minute: a week-long run's history stays a
few megabytes and a page that connects (or reconnects, or a resumed run's) still sees all of
it. Training figures need no copy here: ``metrics.jsonl`` already keeps every point the page
charts, and a resumed run's folder starts with them (cli.py, ``continue_records``).

Writes come from worker threads of the live server; one connection behind a lock serves them.
A history that cannot be written is a warning, never a reason to stop serving.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pydantic import ValidationError

from townlet.monitoring.system import SystemSample

log = logging.getLogger("townlet.inference")

Result = TypeVar("Result")

HISTORY_FILE = "history.sqlite"
FULL_SECONDS = 3600.0  # every sample this recent is kept
THINNED_SECONDS = 60.0  # older ones: one per this many seconds

_SCHEMA = """
CREATE TABLE IF NOT EXISTS system_samples (t REAL NOT NULL, sample TEXT NOT NULL);
CREATE INDEX IF NOT EXISTS system_samples_by_time ON system_samples (t);
"""


def thin_by_age(samples: list[SystemSample], now: float) -> list[SystemSample]:
    """The same thinning as the database's, for the copy kept in memory (oldest first)."""
    cutoff = now - FULL_SECONDS
    kept: list[SystemSample] = []
    last_bucket: int | None = None
    for sample in samples:
        if sample.t >= cutoff:
            kept.append(sample)
            continue
        bucket = int(sample.t // THINNED_SECONDS)
        if bucket != last_bucket:
            kept.append(sample)
            last_bucket = bucket
    return kept


class HistoryStore:
    def __init__(self, run_dir: Path) -> None:
        self.path = run_dir / HISTORY_FILE
        self._lock = threading.Lock()
        self._connection: sqlite3.Connection | None = None
        try:
            connection = sqlite3.connect(self.path, check_same_thread=False, timeout=5.0)
            connection.executescript(_SCHEMA)
            self._connection = connection
        except sqlite3.Error as error:
            self._give_up("open", error)

    def load(self) -> list[SystemSample]:
        """Every kept sample, oldest first (rows that do not parse are skipped)."""
        rows = self._run(
            "read", lambda db: db.execute("SELECT sample FROM system_samples ORDER BY t").fetchall()
        )
        samples = []
        for (text,) in rows or []:
            try:
                samples.append(SystemSample.model_validate_json(text))
            except ValidationError:
                continue
        return samples

    def add(self, sample: SystemSample) -> None:
        self._run(
            "write",
            lambda db: db.execute(
                "INSERT INTO system_samples (t, sample) VALUES (?, ?)",
                (sample.t, sample.model_dump_json()),
            ),
        )

    def thin(self, now: float) -> None:
        """Keep the first sample of each minute among those older than an hour."""
        cutoff = now - FULL_SECONDS
        self._run(
            "thin",
            lambda db: db.execute(
                "DELETE FROM system_samples WHERE t < ? AND rowid NOT IN ("
                " SELECT MIN(rowid) FROM system_samples WHERE t < ?"
                f" GROUP BY CAST(t / {THINNED_SECONDS} AS INTEGER))",
                (cutoff, cutoff),
            ),
        )

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
            "system history off: could not %s %s (%s); the panel shows this session only",
            action,
            self.path,
            error,
        )
        if self._connection is not None:
            self._connection.close()
        self._connection = None


def copy_history(earlier: Path, run_dir: Path) -> None:
    """A resumed run in a new folder starts with the earlier run's system history."""
    source = earlier / HISTORY_FILE
    if not source.exists() or (run_dir / HISTORY_FILE).exists():
        return
    with sqlite3.connect(source) as old, sqlite3.connect(run_dir / HISTORY_FILE) as new:
        old.backup(new)  # consistent even if a WAL or journal was left behind
    old.close()
    new.close()

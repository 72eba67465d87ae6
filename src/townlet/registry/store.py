"""The run registry: one SQLite database per runs folder (``runs/registry.sqlite``).

Several processes use it at once (running demos, the ``townlet`` command), so: WAL mode
(readers never wait for the writer), a busy timeout, short transactions, and ``BEGIN
IMMEDIATE`` for every change so two writers queue instead of failing half-way. A change that
still finds the database locked is retried with backoff; a user never sees "database is
locked" unless it stays locked for many seconds.

The schema carries a version (``PRAGMA user_version``); ``MIGRATIONS[n]`` brings version n to
n + 1, so an older database is upgraded on open and a newer one is refused with a clear error.
"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import time
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from townlet.registry.records import RUN_COLUMNS, RunRecord, RunStatus
from townlet.registry.sweeps import SWEEP_COLUMNS, SweepRecord

REGISTRY_FILE = "registry.sqlite"
BUSY_TIMEOUT_MS = 5000
LOCK_RETRY_SECONDS = 30.0  # total patience for a lock beyond the busy timeout

MIGRATIONS: list[str] = [
    # 0 -> 1: runs
    """
    CREATE TABLE runs (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        config_path TEXT NOT NULL,
        config_name TEXT NOT NULL,
        config_digest TEXT NOT NULL,
        seed INTEGER NOT NULL,
        status TEXT NOT NULL,
        pid INTEGER,
        host TEXT NOT NULL,
        device TEXT,
        run_dir TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        heartbeat_at REAL,
        episode INTEGER NOT NULL DEFAULT 0,
        env_step INTEGER NOT NULL DEFAULT 0,
        steps_per_second REAL,
        newest_checkpoint TEXT,
        best_greedy REAL,
        end_reason TEXT,
        error TEXT,
        stop_requested INTEGER NOT NULL DEFAULT 0,
        sweep_id TEXT
    );
    CREATE INDEX runs_by_digest ON runs (config_digest, seed);
    CREATE INDEX runs_by_status ON runs (status);
    """,
    # 1 -> 2: sweeps (many runs of one config started together; runs.sweep_id links a trial)
    """
    CREATE TABLE sweeps (
        id TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        config_path TEXT NOT NULL,
        config_name TEXT NOT NULL,
        status TEXT NOT NULL,
        pid INTEGER,
        host TEXT NOT NULL,
        ray_address TEXT,
        trials INTEGER NOT NULL,
        parallel INTEGER NOT NULL,
        settings TEXT NOT NULL,
        sweep_dir TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        heartbeat_at REAL,
        end_reason TEXT,
        error TEXT,
        stop_requested INTEGER NOT NULL DEFAULT 0
    );
    CREATE INDEX runs_by_sweep ON runs (sweep_id);
    """,
    # 2 -> 3: the alerts firing now, as JSON (the live server evaluates them; townlet status
    # shows them)
    """
    ALTER TABLE runs ADD COLUMN alerts TEXT;
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)
_SELECTED = ", ".join(RUN_COLUMNS)  # in RunRecord's field order, so a row is its arguments

Result = TypeVar("Result")


class RegistryError(RuntimeError):
    """The registry cannot be used; the message says why and what to do."""


class Registry:
    def __init__(self, runs_dir: Path, create: bool = True) -> None:
        """``create=False``: a reader that must not make a registry where there is none."""
        self.path = runs_dir / REGISTRY_FILE
        if not create and not self.path.exists():
            raise RegistryError(f"there is no run registry at {self.path} yet")
        self.created = not self.path.exists()  # by this process: see discard_if_unused
        runs_dir.mkdir(parents=True, exist_ok=True)
        try:
            self._connection = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None
            )
            self._connection.row_factory = sqlite3.Row
            self._connection.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            self._retrying(lambda: self._connection.execute("PRAGMA journal_mode = WAL"))
            self._migrate()
        except sqlite3.DatabaseError as error:
            raise RegistryError(self._explain(error)) from error

    def close(self) -> None:
        self._connection.close()

    def discard_if_unused(self) -> None:
        """Close; and delete the database when this process created it and it holds no run
        (a start stopped before it began leaves nothing behind)."""
        unused = self.created and not self._read("SELECT 1 FROM runs LIMIT 1", [])
        self.close()
        if unused:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{self.path}{suffix}").unlink(missing_ok=True)

    # ------------------------------------------------------------ writes
    def register(self, record: RunRecord) -> RunRecord:
        columns = ", ".join(RUN_COLUMNS)
        marks = ", ".join("?" for _ in RUN_COLUMNS)
        values = [getattr(record, column) for column in RUN_COLUMNS]
        with self._change() as db:
            db.execute(f"INSERT INTO runs ({columns}) VALUES ({marks})", values)
        return record

    def update(self, run_id: str, **fields: object) -> None:
        unknown = set(fields) - set(RUN_COLUMNS)
        if unknown:
            raise ValueError(f"unknown run fields: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._change() as db:
            db.execute(f"UPDATE runs SET {assignments} WHERE id = ?", [*fields.values(), run_id])

    def heartbeat(self, run_id: str, **counters: object) -> None:
        self.update(run_id, heartbeat_at=time.time(), **counters)

    def finish(self, run_id: str, status: RunStatus, reason: str, error: str | None = None) -> None:
        self.update(run_id, status=status, ended_at=time.time(), end_reason=reason, error=error)

    def request_stop(self, run_id: str) -> None:
        self.update(run_id, stop_requested=1)

    def remove(self, run_id: str) -> None:
        with self._change() as db:
            db.execute("DELETE FROM runs WHERE id = ?", [run_id])

    # ------------------------------------------------------------ reads
    def get(self, run_id: str) -> RunRecord | None:
        records = self._records("WHERE id = ?", [run_id])
        return records[0] if records else None

    def find(self, prefix: str) -> list[RunRecord]:
        """Runs whose id starts with ``prefix`` (ids are typed by people: a prefix will do)."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._records("WHERE id LIKE ? ESCAPE '\\' ORDER BY started_at", [escaped + "%"])

    def runs(
        self,
        limit: int | None = None,
        *,
        statuses: Collection[str] | None = None,
        config_name: str | None = None,
    ) -> list[RunRecord]:
        """Newest first; optionally only these recorded statuses (``lost`` is never recorded:
        it is derived, see ``effective_status``) and this config."""
        if statuses is not None and not statuses:
            return []
        where, parameters = _filters(statuses, config_name)
        sql = f"{where} ORDER BY started_at DESC" + (f" LIMIT {int(limit)}" if limit else "")
        return self._records(sql, parameters)

    def count(
        self, *, statuses: Collection[str] | None = None, config_name: str | None = None
    ) -> int:
        """How many runs ``runs()`` would return without a limit."""
        if statuses is not None and not statuses:
            return 0
        where, parameters = _filters(statuses, config_name)
        return int(self._read(f"SELECT COUNT(*) FROM runs {where}", parameters)[0][0])

    def same_config(self, digest: str, seed: int) -> list[RunRecord]:
        return self._records(
            "WHERE config_digest = ? AND seed = ? ORDER BY started_at DESC", [digest, seed]
        )

    # ------------------------------------------------------------ sweeps
    def register_sweep(self, sweep: SweepRecord) -> SweepRecord:
        columns = ", ".join(SWEEP_COLUMNS)
        marks = ", ".join("?" for _ in SWEEP_COLUMNS)
        values = [getattr(sweep, column) for column in SWEEP_COLUMNS]
        with self._change() as db:
            db.execute(f"INSERT INTO sweeps ({columns}) VALUES ({marks})", values)
        return sweep

    def update_sweep(self, sweep_id: str, **fields: object) -> None:
        unknown = set(fields) - set(SWEEP_COLUMNS)
        if unknown:
            raise ValueError(f"unknown sweep fields: {sorted(unknown)}")
        assignments = ", ".join(f"{name} = ?" for name in fields)
        with self._change() as db:
            db.execute(
                f"UPDATE sweeps SET {assignments} WHERE id = ?", [*fields.values(), sweep_id]
            )

    def get_sweep(self, sweep_id: str) -> SweepRecord | None:
        found = self._sweeps("WHERE id = ?", [sweep_id])
        return found[0] if found else None

    def find_sweeps(self, prefix: str) -> list[SweepRecord]:
        """Sweeps whose id starts with ``prefix``."""
        escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        return self._sweeps("WHERE id LIKE ? ESCAPE '\\' ORDER BY started_at", [escaped + "%"])

    def sweeps(self) -> list[SweepRecord]:
        """Every sweep, newest first."""
        return self._sweeps("ORDER BY started_at DESC", [])

    def sweep_trials(self, sweep_id: str) -> list[RunRecord]:
        """The runs of one sweep, in the order they were registered."""
        return self._records("WHERE sweep_id = ? ORDER BY started_at, id", [sweep_id])

    def _sweeps(self, where: str, parameters: list[object]) -> list[SweepRecord]:
        sql = f"SELECT {', '.join(SWEEP_COLUMNS)} FROM sweeps {where}"

        def fetch() -> list[tuple[object, ...]]:
            cursor = self._connection.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, parameters).fetchall()

        return [SweepRecord(*row) for row in self._retrying(fetch)]

    # ------------------------------------------------------------ internals
    @contextmanager
    def _change(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with BEGIN IMMEDIATE (retried while locked)."""
        db = self._connection
        self._retrying(lambda: db.execute("BEGIN IMMEDIATE"))
        try:
            yield db
        except BaseException as error:
            if db.in_transaction:
                db.execute("ROLLBACK")
            if isinstance(error, sqlite3.Error):
                raise RegistryError(self._explain(error)) from error
            raise
        self._retrying(lambda: db.execute("COMMIT"))

    def _read(self, sql: str, parameters: list[object]) -> list[sqlite3.Row]:
        return self._retrying(lambda: self._connection.execute(sql, parameters).fetchall())

    def _records(self, where: str, parameters: list[object]) -> list[RunRecord]:
        """Runs selected by ``where`` (and order), built from plain tuples: about three times
        faster than from ``sqlite3.Row``s, which is what keeps ``townlet list`` quick."""
        sql = f"SELECT {_SELECTED} FROM runs {where}"

        def fetch() -> list[tuple[object, ...]]:
            cursor = self._connection.cursor()
            cursor.row_factory = None
            return cursor.execute(sql, parameters).fetchall()

        return [RunRecord(*row) for row in self._retrying(fetch)]

    def _retrying(self, action: Callable[[], Result]) -> Result:
        deadline = time.monotonic() + LOCK_RETRY_SECONDS
        delay = 0.01
        while True:
            try:
                return action()
            except sqlite3.OperationalError as error:
                locked = "locked" in str(error) or "busy" in str(error)
                if not locked or time.monotonic() > deadline:
                    raise RegistryError(self._explain(error)) from error
                time.sleep(delay * (1 + random.random()))
                delay = min(delay * 2, 0.5)
            except sqlite3.DatabaseError as error:
                raise RegistryError(self._explain(error)) from error

    def _migrate(self) -> None:
        version = self._connection.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise RegistryError(
                f"{self.path} was written by a newer Townlet (schema {version}, this one knows "
                f"up to {SCHEMA_VERSION}): upgrade Townlet, or use another --runs-dir"
            )
        while version < SCHEMA_VERSION:
            with self._change() as db:
                # Read again inside the lock: another process may have migrated meanwhile.
                version = db.execute("PRAGMA user_version").fetchone()[0]
                if version >= SCHEMA_VERSION:
                    break
                for statement in MIGRATIONS[version].split(";"):
                    if statement.strip():
                        db.execute(statement)
                db.execute(f"PRAGMA user_version = {version + 1}")
            version += 1

    def _explain(self, error: sqlite3.Error) -> str:
        text = str(error)
        if "not a database" in text or "malformed" in text:
            return (
                f"the run registry {self.path} is damaged ({text}): move it aside "
                f"(e.g. `mv {self.path} {self.path}.broken`) and a new one is started; "
                "the runs' folders are not affected"
            )
        if "readonly" in text or "unable to open" in text or "disk I/O" in text:
            return (
                f"the run registry {self.path} cannot be written ({text}): check the folder's "
                "permissions and free space, or use another --runs-dir"
            )
        if "locked" in text or "busy" in text:
            return (
                f"the run registry {self.path} stayed locked for {LOCK_RETRY_SECONDS:.0f} s "
                f"({text}): another program holds it; try again"
            )
        return f"the run registry {self.path} failed: {text}"


def _filters(statuses: Collection[str] | None, config_name: str | None) -> tuple[str, list[object]]:
    clauses, parameters = [], []
    if statuses is not None:
        clauses.append(f"status IN ({', '.join('?' for _ in statuses)})")
        parameters += list(statuses)
    if config_name is not None:
        clauses.append("config_name = ?")
        parameters.append(config_name)
    return ("WHERE " + " AND ".join(clauses) if clauses else ""), parameters


def this_host() -> str:
    return socket.gethostname()


def pid_alive(pid: int | None) -> bool:
    if pid is None or pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True

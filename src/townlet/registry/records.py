"""What the registry knows about a run, and the one definition of a run's status.

A run's process writes its status (``starting`` .. ``stopped``/``completed``/``failed``) and a
heartbeat every 2 s. A process that dies without a word (kill -9, power cut) writes nothing
more, so readers derive ``lost``: an active status whose pid is gone (on this host), or, for a
run on another host, whose heartbeat is stale. Every reader (``townlet list``, ``status``,
the live server) calls ``effective_status``; nothing else decides.
"""

from __future__ import annotations

import hashlib
import json
import secrets
import sqlite3
import time
from dataclasses import dataclass, fields
from typing import Any, Literal

RunStatus = Literal[
    "starting", "running", "paused", "stopping", "stopped", "completed", "failed", "lost"
]
ACTIVE: frozenset[str] = frozenset({"starting", "running", "paused", "stopping"})
HEARTBEAT_SECONDS = 2.0
STALE_SECONDS = 10.0  # five missed heartbeats
_ID_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"  # no look-alikes (l/1, o/0, i)


def new_run_id() -> str:
    """Six characters people can type (31**6 = 887 million: collisions are retried)."""
    return "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


# Where a run is served from is not what the run is: moving the page to another port must not
# make the same training a different run.
# Alert rules watch a run; they do not change what it trains.
NOT_PART_OF_A_RUN = frozenset({"unified_server", "alerts"})


def config_digest(config_dict: dict[str, Any]) -> str:
    """SHA-256 of the canonical JSON of a config (sorted keys, no spaces)."""
    identity = {key: value for key, value in config_dict.items() if key not in NOT_PART_OF_A_RUN}
    canonical = json.dumps(identity, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()


@dataclass(frozen=True)
class RunRecord:
    id: str
    name: str
    config_path: str
    config_name: str
    config_digest: str
    seed: int
    status: str
    pid: int | None
    host: str
    device: str | None
    run_dir: str
    started_at: float
    ended_at: float | None = None
    heartbeat_at: float | None = None
    episode: int = 0
    env_step: int = 0
    steps_per_second: float | None = None
    newest_checkpoint: str | None = None
    best_greedy: float | None = None
    end_reason: str | None = None
    error: str | None = None
    stop_requested: int = 0
    sweep_id: str | None = None
    # JSON list of the alerts firing now ({name, kind, severity, since, value, message}).
    alerts: str | None = None

    def firing_alerts(self) -> list[dict[str, Any]]:
        """The alerts firing as last recorded; [] when none (or unreadable)."""
        if not self.alerts:
            return []
        try:
            alerts = json.loads(self.alerts)
        except ValueError:
            return []
        if not isinstance(alerts, list):
            return []
        return [alert for alert in alerts if isinstance(alert, dict)]

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> RunRecord:
        return cls(**{name: row[name] for name in RUN_COLUMNS})

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        """For ``--json``: every field, with ``status`` the effective one."""
        data = dict(vars(self))  # the fields, in order (a dataclass without slots)
        data["status"] = effective_status(self, now)
        data["alerts"] = self.firing_alerts()
        return data


RUN_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(RunRecord))


def effective_status(
    record: RunRecord,
    now: float | None = None,
    this_host: str | None = None,
    pid_alive: Any = None,
) -> str:
    """The status to show: the recorded one, or ``lost`` for a process that died silently.

    ``this_host`` and ``pid_alive`` default to this machine's; a run on another host is only
    judged by its heartbeat (its pid means nothing here).
    """
    if record.status not in ACTIVE:
        return record.status
    from townlet.registry.store import pid_alive as alive_here
    from townlet.registry.store import this_host as host_here

    host = host_here() if this_host is None else this_host
    check = alive_here if pid_alive is None else pid_alive
    if record.host == host:
        # On this machine the pid says it at once: gone is lost, alive is alive (even when
        # slow to beat, as during a long final save).
        return record.status if check(record.pid) else "lost"
    now = time.time() if now is None else now
    beat = record.heartbeat_at or record.started_at
    return record.status if now - beat <= STALE_SECONDS else "lost"

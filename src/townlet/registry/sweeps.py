"""What the registry knows about a sweep: many runs of one config, started together.

A sweep's driver (``townlet sweep``) writes its row and heartbeats it; each trial is an
ordinary run whose ``sweep_id`` names the sweep. ``stop_requested`` on the sweep row asks
every trial to stop, including the ones that have not registered yet.
"""

from __future__ import annotations

import json
import secrets
import time
from dataclasses import dataclass, fields
from typing import Any

from townlet.registry.records import _ID_ALPHABET, ACTIVE, STALE_SECONDS

SWEEP_ID_PREFIX = "s-"  # run ids never hold "-": a sweep id can never be read as a run id


def new_sweep_id() -> str:
    return SWEEP_ID_PREFIX + "".join(secrets.choice(_ID_ALPHABET) for _ in range(6))


def is_sweep_id(text: str) -> bool:
    return text.startswith(SWEEP_ID_PREFIX)


@dataclass(frozen=True)
class SweepRecord:
    id: str
    name: str
    config_path: str
    config_name: str
    status: str  # running, stopping, stopped, completed, failed (lost is derived)
    pid: int | None
    host: str
    ray_address: str | None  # None: a local Ray this sweep started and stopped
    trials: int
    parallel: int
    settings: str  # JSON: {"seeds": [...], "set": {"training.learning_rate": [...]}, ...}
    sweep_dir: str
    started_at: float
    ended_at: float | None = None
    heartbeat_at: float | None = None
    end_reason: str | None = None
    error: str | None = None
    stop_requested: int = 0

    def settings_dict(self) -> dict[str, Any]:
        try:
            value = json.loads(self.settings)
        except ValueError:
            return {}
        return value if isinstance(value, dict) else {}

    def as_dict(self, now: float | None = None) -> dict[str, Any]:
        data = dict(vars(self))
        data["status"] = sweep_status(self, now)
        data["settings"] = self.settings_dict()
        return data


SWEEP_COLUMNS: tuple[str, ...] = tuple(field.name for field in fields(SweepRecord))


def sweep_status(sweep: SweepRecord, now: float | None = None) -> str:
    """As ``effective_status`` for runs: a driver that died without a word is ``lost``."""
    if sweep.status not in ACTIVE:
        return sweep.status
    from townlet.registry.store import pid_alive, this_host

    if sweep.host == this_host():
        return sweep.status if pid_alive(sweep.pid) else "lost"
    now = time.time() if now is None else now
    beat = sweep.heartbeat_at or sweep.started_at
    return sweep.status if now - beat <= STALE_SECONDS else "lost"

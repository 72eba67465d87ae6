"""Runs you can list, follow, stop and resume from any terminal: the registry and events."""

from townlet.registry.records import (
    ACTIVE,
    HEARTBEAT_SECONDS,
    RunRecord,
    RunStatus,
    config_digest,
    effective_status,
    new_run_id,
)
from townlet.registry.store import Registry, RegistryError, pid_alive, this_host
from townlet.registry.sweeps import SweepRecord, is_sweep_id, new_sweep_id, sweep_status

__all__ = [
    "ACTIVE",
    "HEARTBEAT_SECONDS",
    "Registry",
    "RegistryError",
    "RunRecord",
    "RunStatus",
    "SweepRecord",
    "config_digest",
    "effective_status",
    "is_sweep_id",
    "new_run_id",
    "new_sweep_id",
    "pid_alive",
    "sweep_status",
    "this_host",
]

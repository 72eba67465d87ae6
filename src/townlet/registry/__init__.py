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

__all__ = [
    "ACTIVE",
    "HEARTBEAT_SECONDS",
    "Registry",
    "RegistryError",
    "RunRecord",
    "RunStatus",
    "config_digest",
    "effective_status",
    "new_run_id",
    "pid_alive",
    "this_host",
]

"""The registry, reachable from a trial on any node of the cluster.

The registry is SQLite in WAL mode, which wants every writer on one machine: the driver's.
So the registry is opened once, by a small Ray actor pinned to the driver's node, and trials
call it through ``RemoteRegistry``, which offers the few methods a run's ``RunTracker`` and
``register`` use (update, heartbeat, get, close). If the actor cannot be reached the calls
raise ``RegistryError``, which a run already survives: it warns once and goes on without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from townlet.registry import Registry, RegistryError, RunRecord, SweepRecord

CALL_TIMEOUT_SECONDS = 30.0
_ALLOWED = frozenset({"update", "heartbeat", "get", "get_sweep"})


class RegistryService:
    """The actor's body: one Registry, calls answered one at a time."""

    def __init__(self, runs_dir: str) -> None:
        self.registry = Registry(Path(runs_dir))

    def call(self, method: str, *args: Any, **kwargs: Any) -> tuple[str, Any]:
        if method not in _ALLOWED:
            return "error", f"registry method {method!r} is not offered to trials"
        try:
            return "ok", getattr(self.registry, method)(*args, **kwargs)
        except RegistryError as error:
            return "error", str(error)


def start_registry_service(runs_dir: Path) -> Any:
    """The actor, on this (the driver's) node; it ends with the driver's Ray connection."""
    here = ray.get_runtime_context().get_node_id()
    actor_class = ray.remote(num_cpus=0, max_restarts=0)(RegistryService)
    return actor_class.options(
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=here, soft=False)
    ).remote(str(runs_dir))


class RemoteRegistry:
    """What a trial holds instead of a ``Registry``: the same calls, answered by the actor."""

    def __init__(self, service: Any, path: str) -> None:
        self.service = service
        self.path = path

    def _call(self, method: str, *args: Any, **kwargs: Any) -> Any:
        try:
            kind, value = ray.get(
                self.service.call.remote(method, *args, **kwargs), timeout=CALL_TIMEOUT_SECONDS
            )
        except (ray.exceptions.RayError, TimeoutError) as error:
            raise RegistryError(
                f"the sweep's registry ({self.path}, kept by the driver) cannot be reached: "
                f"{type(error).__name__}"
            ) from None
        if kind == "error":
            raise RegistryError(value)
        return value

    def update(self, run_id: str, **fields: object) -> None:
        self._call("update", run_id, **fields)

    def heartbeat(self, run_id: str, **counters: object) -> None:
        self._call("heartbeat", run_id, **counters)

    def get(self, run_id: str) -> RunRecord | None:
        return self._call("get", run_id)

    def get_sweep(self, sweep_id: str) -> SweepRecord | None:
        return self._call("get_sweep", sweep_id)

    def close(self) -> None:
        """The driver closes the registry; a trial has nothing to close."""

"""A run's identity before anything starts: its registry row, its log file, its events.

``prepare`` decides which run this start is: a new one, or (``--resume-run ID``) an earlier
run continued under its own id and folder. A run of the same config and seed that is running
now is refused unless ``--new``. Everything here is checked before the run folder is created.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from townlet.orchestrator.console_log import PrefixFormatter
from townlet.orchestrator.run_paths import RunPaths
from townlet.orchestrator.run_tracker import EventsFromLog, RunTracker
from townlet.registry import (
    ACTIVE,
    Registry,
    RegistryError,
    RunRecord,
    effective_status,
    new_run_id,
    this_host,
)
from townlet.registry.events import EventLog
from townlet.registry.store import REGISTRY_FILE

log = logging.getLogger("townlet.orchestrator")

RUN_LOG = "run.log"


class RunRefused(RuntimeError):
    """This start must not go ahead; the message says why and what to do instead."""


def open_registry(runs_dir: Path, create: bool) -> Registry | None:
    """The runs folder's registry, or None (with a warning) when it cannot be used.

    ``create=False`` (the checks before a start) makes nothing: a start that is refused must
    leave the runs folder as it was."""
    if not create and not (runs_dir / REGISTRY_FILE).exists():
        return None
    try:
        return Registry(runs_dir)
    except RegistryError as error:
        log.warning("%s; this run goes on without the registry", error)
        return None


@dataclass
class Plan:
    registry: Registry | None
    continued: RunRecord | None  # --resume-run: the run this start continues


def prepare(
    registry: Registry | None, digest: str, seed: int, resume_run: str | None, allow_twin: bool
) -> Plan:
    if resume_run is not None:
        if registry is None:
            raise RunRefused("--resume-run needs the run registry, which cannot be used")
        matches = registry.find(resume_run)
        if not matches:
            raise RunRefused(f"no run {resume_run!r} in {registry.path}: `townlet list` shows ids")
        if len(matches) > 1:
            names = ", ".join(match.id for match in matches)
            raise RunRefused(f"{resume_run!r} names several runs ({names}): give more of the id")
        run = matches[0]
        if effective_status(run) in ACTIVE:
            raise RunRefused(
                f"run {run.id} is {effective_status(run)} (pid {run.pid}): stop it first "
                f"(`townlet stop {run.id}`)"
            )
        return Plan(registry, run)
    if registry is not None and not allow_twin:
        for twin in registry.same_config(digest, seed):
            status = effective_status(twin)
            if status in ACTIVE:
                raise RunRefused(
                    f"the same config and seed are already running as {twin.id} "
                    f"(pid {twin.pid}): `townlet status {twin.id}`; add --new to start "
                    "another one anyway"
                )
    return Plan(registry, None)


def register(
    plan: Plan,
    paths: RunPaths,
    *,
    name: str,
    config_path: Path,
    config_name: str,
    digest: str,
    seed: int,
    device: str,
    events_stream: IO[str] | None,
) -> RunTracker:
    """Write the run's row (status "starting") and open its event log and run.log."""
    now = time.time()
    fresh = {
        "status": "starting",
        "pid": os.getpid(),
        "host": this_host(),
        "device": device,
        "heartbeat_at": now,
        "ended_at": None,
        "end_reason": None,
        "error": None,
        "stop_requested": 0,
    }
    registry = plan.registry
    if plan.continued is not None:
        record = plan.continued
        log.info("continuing run %s (%s) in %s", record.id, record.name, record.run_dir)
    else:
        record = RunRecord(
            id=new_run_id(),
            name=name,
            config_path=str(config_path),
            config_name=config_name,
            config_digest=digest,
            seed=seed,
            run_dir=str(paths.run_dir),
            started_at=now,
            **fresh,  # type: ignore[arg-type]
        )
    try:
        if registry is not None and plan.continued is not None:
            registry.update(record.id, config_digest=digest, **fresh)
        elif registry is not None:
            record = _insert_with_fresh_id(registry, record)
    except RegistryError as error:
        log.warning("%s; this run goes on without the registry", error)
        registry = None
    run_log = attach_run_log(paths.run_dir)
    events = EventLog(paths.run_dir, record.id, stream=events_stream)
    from_log = EventsFromLog(events)
    logging.getLogger("townlet").addHandler(from_log)
    tracker = RunTracker(registry, record, events)
    tracker.log_handlers = [run_log, from_log]
    return tracker


def _insert_with_fresh_id(registry: Registry, record: RunRecord) -> RunRecord:
    for _ in range(10):
        if registry.get(record.id) is None:
            try:
                return registry.register(record)
            except RegistryError as error:
                if "UNIQUE" not in str(error):
                    raise
        record = RunRecord(**{**record.__dict__, "id": new_run_id()})
    raise RegistryError(f"could not find a free run id in {registry.path}")


def attach_run_log(run_dir: Path) -> logging.Handler:
    """Everything the console shows also goes to <run>/run.log (``townlet logs``)."""
    handler = logging.FileHandler(run_dir / RUN_LOG, encoding="utf-8", delay=True)
    handler.setFormatter(PrefixFormatter(color=False))
    for name in ("townlet", "uvicorn"):
        logging.getLogger(name).addHandler(handler)
    return handler

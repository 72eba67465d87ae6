"""This run's row in the registry and its events.jsonl, kept up to date from the main loop.

Registering happens before anything starts; ``tick()`` (called by the orchestrator's watch
loop) heartbeats every 2 s with the counters, notices ``townlet stop``, and turns what
happened since into events (new checkpoints, evaluations, progress every 10 s). The registry
is a convenience: if it cannot be used the run goes on without it (one warning), and an event
log that cannot be written never stops training either.

Alerts are evaluated by the live server's process; each one that fires or resolves reaches
``alert()`` (on the link's relay thread): an ``alert`` event at once, and the alerts firing now
in the registry with the next heartbeat (the registry's connection belongs to the main thread).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from townlet.learner.trainer import TrainingProgress
from townlet.registry import (
    HEARTBEAT_SECONDS,
    Registry,
    RegistryError,
    RunRecord,
    this_host,
)
from townlet.registry.events import EventLog
from townlet.run_records import EvaluationPoint, RecordTail, evaluation_log

log = logging.getLogger("townlet.orchestrator")

PROGRESS_EVENT_SECONDS = 10.0


@dataclass
class Ending:
    status: str  # stopped, completed, failed
    reason: str
    error: str | None = None


class RunTracker:
    def __init__(self, registry: Registry | None, record: RunRecord, events: EventLog) -> None:
        self.registry = registry
        self.record = record
        self.events = events
        self.run_id = record.id
        self._last_beat = 0.0
        self._last_progress_event = time.monotonic()
        self._last_checkpoint: str | None = None
        self._evaluations = RecordTail(evaluation_log(Path(record.run_dir)))
        self._best: float | None = record.best_greedy
        self._evaluation_listeners: list[Callable[[EvaluationPoint], None]] = []
        self.stop_requested = False
        # What writes into the run folder from the log (run.log, events): set by register().
        self.log_handlers: list[logging.Handler] = []
        self._alerts_lock = threading.Lock()
        self._firing: str | None = None  # JSON for the registry's alerts column

    # ------------------------------------------------------------ alerts
    def alert(self, notice: dict[str, Any]) -> None:
        """An alert fired or resolved (``notice``: {"alert": {...}, "firing": [...]})."""
        alert = notice.get("alert")
        if isinstance(alert, dict):
            self.events.emit(
                "alert",
                **{
                    key: alert.get(key)
                    for key in ("name", "kind", "severity", "state", "value", "message", "since")
                },
            )
        firing = notice.get("firing")
        if isinstance(firing, list):
            with self._alerts_lock:
                self._firing = json.dumps(firing) if firing else None

    # ------------------------------------------------------------ registry calls
    def _write(self, action: str, call: object, *args: object, **kwargs: object) -> None:
        """Run one registry call; on failure warn once and carry on without the registry."""
        if self.registry is None:
            return
        try:
            call(*args, **kwargs)  # type: ignore[operator]
        except RegistryError as error:
            log.warning("%s; the run goes on without the registry (%s)", error, action)
            self.events.emit("warning", message=f"registry off: {error}")
            self.registry = None

    def started(self, device: str, config_path: str, digest: str) -> None:
        self.events.emit(
            "run_started",
            digest=digest,
            device=device,
            pid=os.getpid(),
            host=this_host(),
            config_path=config_path,
            run_dir=self.record.run_dir,
        )

    def running(self) -> None:
        self._write("marking the run running", self._update, status="running")

    def _update(self, **fields: object) -> None:
        assert self.registry is not None
        self.registry.update(self.run_id, **fields)

    def component(self, name: str, started: bool, **fields: object) -> None:
        event = "component_started" if started else "component_stopped"
        self.events.emit(event, component=name, **fields)

    # ------------------------------------------------------------ the watch loop
    def tick(self, progress: TrainingProgress, newest_checkpoint: Path | None) -> bool:
        """Heartbeat when due; True once ``townlet stop`` has asked this run to stop."""
        now = time.monotonic()
        if now - self._last_beat < HEARTBEAT_SECONDS:
            return self.stop_requested
        self._last_beat = now
        checkpoint = newest_checkpoint.name if newest_checkpoint is not None else None
        if checkpoint is not None and checkpoint != self._last_checkpoint:
            self._last_checkpoint = checkpoint
            self.events.emit(
                "checkpoint_written", checkpoint=checkpoint, env_step=progress.env_step
            )
        for point in self._evaluations.read_new():
            self._on_evaluation(point)
        if now - self._last_progress_event >= PROGRESS_EVENT_SECONDS:
            self._last_progress_event = now
            self.events.emit(
                "progress",
                episode=progress.episode,
                env_step=progress.env_step,
                steps_per_second=round(progress.steps_per_second, 1),
                epsilon=round(progress.epsilon, 4),
                training_survival=progress.recent_mean_survival,
                paused=progress.paused,
            )
        status = "paused" if progress.paused else "running"
        self._write(
            "heartbeat",
            self._beat,
            status=status,
            episode=progress.episode,
            env_step=progress.env_step,
            steps_per_second=progress.steps_per_second,
            newest_checkpoint=checkpoint,
            best_greedy=self._best,
            alerts=self._firing_now(),
        )
        return self.stop_requested

    def _firing_now(self) -> str | None:
        with self._alerts_lock:
            return self._firing

    def _beat(self, **fields: object) -> None:
        assert self.registry is not None
        self.registry.heartbeat(self.run_id, **fields)
        current = self.registry.get(self.run_id)
        if current is not None and current.stop_requested and not self.stop_requested:
            self.stop_requested = True
            log.info("stop requested with `townlet stop`: stopping as on Ctrl+C")

    def _on_evaluation(self, point: EvaluationPoint) -> None:
        self.events.emit(
            "evaluation",
            checkpoint=point.checkpoint,
            env_step=point.env_step,
            mean_survival=point.mean_survival,
            share_at_cap=point.share_at_cap,
        )
        if self._best is None or point.mean_survival > self._best:
            self._best = point.mean_survival
        for listener in self._evaluation_listeners:
            listener(point)

    def watch_evaluations(self, listener: Callable[[EvaluationPoint], None]) -> None:
        """Call ``listener`` with each evaluation as it lands (from the heartbeat, every 2 s),
        earlier ones included: a resumed run's copied lines come first."""
        self._evaluation_listeners.append(listener)

    # ------------------------------------------------------------ the end
    def forget(self) -> None:
        """Stopped before anything ran: no row is left behind for a run that never was, and
        nothing writes into its folder any more (it is about to be removed)."""
        for handler in self.log_handlers:
            for name in ("townlet", "uvicorn"):
                logging.getLogger(name).removeHandler(handler)
            handler.close()
        self._write("removing the run", lambda: self.registry.remove(self.run_id))  # type: ignore[union-attr]
        if self.registry is not None:
            self.registry.discard_if_unused()

    def stopping(self) -> None:
        self._write("marking the run stopping", self._update, status="stopping")

    def finish(self, ending: Ending, progress: TrainingProgress, newest: Path | None) -> None:
        for point in self._evaluations.read_new():
            self._on_evaluation(point)
        self._write(
            "recording how the run ended",
            self._update,
            status=ending.status,
            ended_at=time.time(),
            end_reason=ending.reason,
            error=ending.error,
            episode=progress.episode,
            env_step=progress.env_step,
            newest_checkpoint=newest.name if newest is not None else None,
            best_greedy=self._best,
            heartbeat_at=time.time(),
            alerts=None,  # nothing evaluates them once the run has ended
        )
        self.events.emit(
            "run_finished",
            status=ending.status,
            reason=ending.reason,
            error=ending.error,
            episode=progress.episode,
            env_step=progress.env_step,
        )
        if self.registry is not None:
            self.registry.close()


class EventsFromLog(logging.Handler):
    """Warnings and errors logged anywhere in Townlet become ``warning``/``error`` events."""

    def __init__(self, events: EventLog) -> None:
        super().__init__(level=logging.WARNING)
        self.events = events

    def emit(self, record: logging.LogRecord) -> None:
        if record.name == "townlet.events":  # the event log's own complaint: no loop
            return
        kind = "error" if record.levelno >= logging.ERROR else "warning"
        try:
            self.events.emit(kind, message=record.getMessage(), source=record.name)
        except Exception:  # never let logging fail the caller
            self.handleError(record)

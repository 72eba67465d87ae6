"""``events.jsonl``: what happened to a run, one JSON object a line, for people and programs.

Every line has ``v`` (the schema version), ``time`` (unix seconds), ``run`` (the run id) and
``event``; the other fields depend on the event (DEMO_README.md lists them with an example
each). ``--events -`` also writes every line to stdout. Writing never raises: a run does not
stop because its event log cannot be written (a warning says so, once).
"""

from __future__ import annotations

import json
import logging
import threading
import time
from pathlib import Path
from typing import IO, Any

EVENTS_FILE = "events.jsonl"
EVENTS_SCHEMA = 1
EVENT_TYPES = (
    "run_started",
    "component_started",
    "component_stopped",
    "checkpoint_written",
    "progress",
    "evaluation",
    "warning",
    "error",
    "alert",
    "run_finished",
)

log = logging.getLogger("townlet.events")


class EventLog:
    def __init__(self, run_dir: Path, run_id: str, stream: IO[str] | None = None) -> None:
        self.path = run_dir / EVENTS_FILE
        self.run_id = run_id
        self.stream = stream
        self._lock = threading.Lock()
        self._failed = False

    def emit(self, event: str, **fields: Any) -> None:
        if event not in EVENT_TYPES:
            raise ValueError(f"unknown event {event!r}")
        line = json.dumps(
            {
                "v": EVENTS_SCHEMA,
                "time": round(time.time(), 3),
                "run": self.run_id,
                "event": event,
                **fields,
            },
            default=str,
        )
        with self._lock:
            if self.stream is not None:
                try:
                    self.stream.write(line + "\n")
                    self.stream.flush()
                except (OSError, ValueError):
                    self.stream = None  # a closed pipe: stop streaming, keep the file
            try:
                with self.path.open("a", encoding="utf-8") as handle:
                    handle.write(line + "\n")
            except OSError as error:
                if not self._failed:
                    self._failed = True
                    log.warning("events are no longer written to %s: %s", self.path, error)


def read_events(path: Path) -> list[dict[str, Any]]:
    """Every whole line that parses; a torn last line (a crash mid-write) is left out."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return []
    events = []
    for line in text.splitlines(keepends=True):
        if not line.endswith("\n"):
            break
        try:
            events.append(json.loads(line))
        except ValueError:
            continue
    return events

"""The live server in a process of its own, seen from the training process.

In one process the server's Python work (play ticks, JSON, writes to every viewer) and the
training loop take turns for one interpreter lock: with 50 viewers training lost 10-20% of
its speed, against 0-3% with the same server in another process (benchmarks/results/
viewers.md). So the server runs in a child (live/server_child.py) that inherits the socket we bound
and one end of a link (live/process_link.py). This side relays: training progress out a few times a
second, the child's log records, checkpoint pins, training controls and alerts in.

The child leads a process group of its own so the terminal's Ctrl+C reaches only us; we stop it
in order. It never outlives us: our end of the link closes when we die, however we die.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from townlet.checkpoints import CheckpointCatalog
from townlet.learner.trainer import TrainingProgress
from townlet.live import process_link as link_messages
from townlet.live.process_link import Link, LiveServerSetup
from townlet.live.session import TrainingControl
from townlet.orchestrator.process_group import group_alive

log = logging.getLogger("townlet.inference")

PROGRESS_EVERY_SECONDS = 0.2  # controls answer on "paused" within a second
PIN_PREFIX = "live-process:"
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the townlet package


class LiveServerProcess:
    """Same face as LiveServerThread (start, stop, alive, fatal_error, set_tensorboard_url)."""

    def __init__(
        self,
        setup: LiveServerSetup,
        sock: socket.socket,
        training_progress: Callable[[], TrainingProgress | None],
        training_control: TrainingControl | None,
        catalog: CheckpointCatalog | None,
        on_alert: Callable[[dict[str, Any]], None] | None = None,
    ) -> None:
        """``catalog``: the trainer's, where the checkpoints the server plays are pinned (None
        for a sweep: its trials train in other processes). ``on_alert``: told (on the relay
        thread) of each alert that fires or resolves."""
        self.setup = setup
        self.on_alert = on_alert
        self.socket = sock
        self.host, self.port = sock.getsockname()[:2]
        self.training_progress = training_progress
        self.training_control = training_control
        self.catalog = catalog
        self.process: subprocess.Popen[bytes] | None = None
        self.link: Link | None = None
        self.fatal_error: str | None = None
        self._started = threading.Event()
        self._relay: threading.Thread | None = None

    # ------------------------------------------------------------ start
    def start(self, timeout: float = 60.0, abort: threading.Event | None = None) -> None:
        """Start the child and wait until uvicorn serves; RuntimeError if it cannot."""
        link, child_end = Link.pair()
        self.link = link
        command = [
            sys.executable,
            "-m",
            "townlet.live.server_child",
            "--socket",
            str(self.socket.fileno()),
            "--link",
            str(child_end.fileno()),
        ]
        path = os.pathsep.join(p for p in (str(_SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p)
        try:
            self.process = subprocess.Popen(
                command,
                env={**os.environ, "PYTHONPATH": path},
                stdin=subprocess.DEVNULL,
                pass_fds=(self.socket.fileno(), child_end.fileno()),
                start_new_session=True,
            )
        finally:
            child_end.close()
            # The child holds the listening socket now; ours would only keep the port open.
            self.socket.close()
        link.send("setup", self.setup)
        self._relay = threading.Thread(target=self._relay_loop, name="live-server-link")
        self._relay.start()
        deadline = time.monotonic() + timeout
        while not self._started.wait(0.05):
            if not self.alive:
                code = self.process.poll()
                raise RuntimeError(f"the live server process exited while starting (code {code})")
            if abort is not None and abort.is_set():
                return
            if time.monotonic() >= deadline:
                raise RuntimeError(f"the live server did not start within {timeout:.0f} s")

    # ------------------------------------------------------------ the link
    def _relay_loop(self) -> None:
        link = self.link
        assert link is not None
        last_sent: TrainingProgress | None = None
        next_progress = 0.0
        while True:
            now = time.monotonic()
            if now >= next_progress:
                next_progress = now + PROGRESS_EVERY_SECONDS
                progress = self.training_progress()
                if progress != last_sent:
                    if not link.send(link_messages.PROGRESS, progress):
                        break
                    last_sent = progress
            if not link.poll(max(next_progress - time.monotonic(), 0.0)):
                continue
            try:
                kind, payload = link.recv()
            except EOFError:
                break
            self._handle(kind, payload)
        # The child is gone (or going): what it held is not played any more.
        if self.catalog is not None:
            self.catalog.replace_pins(PIN_PREFIX, ())

    def _handle(self, kind: str, payload: object) -> None:
        if kind == link_messages.LOG and isinstance(payload, logging.LogRecord):
            logger = logging.getLogger(payload.name)
            if logger.isEnabledFor(payload.levelno):
                logger.handle(payload)
        elif kind == link_messages.PINS and isinstance(payload, set) and self.catalog is not None:
            self.catalog.replace_pins(PIN_PREFIX, payload)
        elif kind == link_messages.STARTED:
            self._started.set()
        elif kind == link_messages.PAUSE_TRAINING and self.training_control is not None:
            self.training_control.pause()
        elif kind == link_messages.RESUME_TRAINING and self.training_control is not None:
            self.training_control.resume()
        elif kind == link_messages.FATAL and isinstance(payload, str):
            self.fatal_error = payload
        elif kind == link_messages.ALERT and isinstance(payload, dict) and self.on_alert:
            self.on_alert(payload)

    # ------------------------------------------------------------ stop
    def stop(self, timeout: float = 8.0) -> bool:
        """Ask the child to close its sockets and exit; SIGKILL its group if it lingers."""
        process = self.process
        if process is None:
            return True
        if self.link is not None:
            self.link.send(link_messages.STOP)
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        if process.poll() is None or group_alive(process.pid):
            log.warning("the live server did not stop within %.0f s; killing it", timeout)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(2.0)
        if self._relay is not None:
            self._relay.join(2.0)  # ends at the link's end-of-file, now the child is gone
        if self.link is not None:
            self.link.close()
        return process.poll() is not None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def set_tensorboard_url(self, url: str | None) -> None:
        if self.link is not None:
            self.link.send(link_messages.TENSORBOARD_URL, url)

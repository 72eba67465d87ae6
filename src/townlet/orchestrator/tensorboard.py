"""TensorBoard on the runs folder, as a child process in its own process group.

Started like Vite (``frontend.py``): under ``child_guard.py``, so it ends with us however we
die, and stopped by ending its whole group, so its data server helper goes too. Its start-up
chatter (no TensorFlow, the fast-loading note, the banner) is logged at DEBUG; its errors are
kept for the start-up failure message and, once it serves, logged as errors.
"""

from __future__ import annotations

import collections
import importlib.util
import logging
import os
import re
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from townlet.orchestrator.frontend import start_guarded
from townlet.orchestrator.process_group import end_group

log = logging.getLogger("townlet.tensorboard")

DEFAULT_PORT = 6006
PORT_HINT = "pick another with --tensorboard PORT"

# absl's prefix, e.g. "E1123 08:15:47.404767 140668085037952 program.py:300] message".
_ABSL_LINE = re.compile(r"^([IWEF])\d{4} [\d:.]+\s+\d+ [^\]]*\] ?(.*)$")


class TensorBoardError(RuntimeError):
    pass


def check_port_free(host: str, port: int) -> None:
    """Raise ``TensorBoardError`` naming the port when TensorBoard could not bind it."""
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as error:
        raise TensorBoardError(f"TensorBoard cannot use host {host!r}: {error}") from error
    with socket.socket(family, kind) as probe:
        # TensorBoard's server sets SO_REUSEADDR too: a port in TIME_WAIT is free for it.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(address)
        except OSError as error:
            raise TensorBoardError(
                f"TensorBoard port {port} on {host} is busy ({error.strerror}); {PORT_HINT}"
            ) from error


class TensorBoardProcess:
    def __init__(self, logdir: Path, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> None:
        self.logdir = logdir
        self.host, self.port = host, port
        self.process: subprocess.Popen[str] | None = None
        self._relay: threading.Thread | None = None
        self._serving = threading.Event()  # set once it answers: errors then go to the log
        self._lock = threading.Lock()
        self._errors: collections.deque[str] = collections.deque(maxlen=3)
        self._last_line = ""

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        if importlib.util.find_spec("tensorboard") is None:
            raise TensorBoardError(
                f"the tensorboard package is not installed in {sys.executable} "
                "(`pip install tensorboard`)"
            )
        check_port_free(self.host, self.port)
        command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(self.logdir)]
        command += ["--host", self.host, "--port", str(self.port)]
        # Unbuffered, so its lines reach the log as they are written, not when it exits.
        environment = {**os.environ, "PYTHONUNBUFFERED": "1"}
        self.process = start_guarded(command, cwd=Path.cwd(), env=environment)
        self._relay = threading.Thread(target=self._relay_output, name="tensorboard-log")
        self._relay.daemon = True  # joined in stop(); never holds up an exit
        self._relay.start()

    def wait_until_serving(self, stop: threading.Event, timeout: float = 60.0) -> None:
        """Return once it answers HTTP; ``TensorBoardError`` with the reason if it cannot."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stop.is_set():
            if self.process is None or self.process.poll() is not None:
                code = self.process.returncode if self.process is not None else "?"
                if self._relay is not None:
                    self._relay.join(2.0)  # its last lines hold the reason
                raise TensorBoardError(
                    f"TensorBoard exited with code {code} before serving {self.url}: "
                    f"{self._failure_reason()}"
                )
            if _answers(f"{self.url}data/environment"):
                self._serving.set()
                return
            stop.wait(0.2)
        if not stop.is_set():
            reason = self._failure_reason(default="")
            raise TensorBoardError(
                f"TensorBoard did not serve {self.url} within {timeout:.0f} s"
                + (f": {reason}" if reason else "")
            )

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        """End the whole process group: SIGTERM, then SIGKILL after ``timeout`` s."""
        if self.process is None:
            return
        end_group(self.process, timeout, "TensorBoard", log)
        if self._relay is not None:
            self._relay.join(2.0)
        relay_done = self._relay is None or not self._relay.is_alive()
        if relay_done and self.process.stdout is not None:
            self.process.stdout.close()  # the group is gone: the pipe was at end-of-file

    # ------------------------------------------------------------- output
    def _failure_reason(self, default: str | None = None) -> str:
        with self._lock:
            error = self._errors[-1] if self._errors else None
            last_line = self._last_line
        if error is not None and ("already in use" in error or "could not bind" in error):
            return f"port {self.port} is busy; {PORT_HINT}"
        if error is not None:
            return error
        if default is not None:
            return default
        return last_line or "it printed nothing; run it by hand to see why"

    def _relay_output(self) -> None:
        assert self.process is not None and self.process.stdout is not None
        in_traceback = False
        for raw in self.process.stdout:
            line = raw.rstrip()
            if not line.strip():
                continue
            error: str | None = None
            if line.startswith("Traceback (most recent call last)"):
                in_traceback = True
            elif in_traceback and not line[0].isspace():
                in_traceback, error = False, line  # "SomeError: what went wrong"
            elif (absl := _ABSL_LINE.match(line)) and absl.group(1) in "EF":
                error = absl.group(2)
            elif line.startswith("ERROR: "):
                error = line.removeprefix("ERROR: ")
            self._note(line, error)

    def _note(self, line: str, error: str | None) -> None:
        with self._lock:
            self._last_line = line
            repeated = error is not None and bool(self._errors) and self._errors[-1] == error
            if error is not None and not repeated:
                self._errors.append(error)
        # absl logs each error twice (its own format, then "ERROR: ..."): say it once.
        if error is not None and not repeated and self._serving.is_set():
            log.error("%s", error)
        else:
            log.debug("%s", line)


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False

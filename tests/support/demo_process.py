"""Run ``run_demo.py`` as a real subprocess and watch its log and its process tree."""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import yaml

from tests.support.tiny import tiny_config
from townlet.config import config_to_dict

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_tiny_config(directory: Path) -> Path:
    """The tiny level 1 config as a YAML file, checkpointing every second, for run_demo.py."""
    data = config_to_dict(tiny_config())
    data["name"] = "tiny_level_1"
    data["checkpoint"] = {"every_episodes": 10_000, "every_seconds": 1.0, "keep_last": 3}
    data["live"] = {"steps_per_second": 20.0, "poll_seconds": 0.25}
    path = directory / "tiny_level_1.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


VITE = PROJECT_ROOT / "frontend" / "node_modules" / ".bin" / "vite"


def demo_args(config: Path, runs: Path, api_port: int, frontend_port: int | None) -> list[str]:
    """run_demo.py's arguments for a test run; no page when ``frontend_port`` is None."""
    args = ["--config", str(config), "--no-browser", "--runs-dir", str(runs)]
    args += ["--port", str(api_port)]
    if frontend_port is None:
        return [*args, "--no-frontend"]
    return [*args, "--frontend-port", str(frontend_port)]


def descendants(pid: int) -> set[int]:
    """Every process below ``pid``, found through /proc (children of children included)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            # The command name may hold spaces; fields after the last ')' are fixed.
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found: set[int] = set()
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        children = [child for child, ppid in parents.items() if ppid == parent]
        found.update(children)
        frontier.extend(children)
    return found


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class DemoProcess:
    def __init__(self, args: list[str], cwd: Path = PROJECT_ROOT) -> None:
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self.process = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "run_demo.py"), *args],
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stdin=subprocess.DEVNULL,  # as in CI: no terminal to ask questions on
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line.rstrip("\n"))

    def wait_for_line(self, pattern: str, timeout: float) -> re.Match[str]:
        """Block until a log line matches, failing with the log if the process exits first."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                line = self._queue.get(timeout=0.2)
            except queue.Empty:
                if self.process.poll() is not None and self._queue.empty():
                    break
                continue
            self.lines.append(line)
            if match := regex.search(line):
                return match
        raise AssertionError(f"no line matched {pattern!r}; log so far:\n" + self.log())

    def drain(self) -> None:
        """After exit: collect the last lines and close the pipe."""
        self._reader.join(5)
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        if self.process.stdout is not None:
            self.process.stdout.close()

    def log(self) -> str:
        return "\n".join(self.lines)

    def interrupt(self) -> None:
        self.process.send_signal(signal.SIGINT)

    def kill_everything(self) -> None:
        """Test clean-up only: leave nothing behind even when an assertion failed."""
        for pid in descendants(self.process.pid) | {self.process.pid}:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        self.process.wait(5)
        self.drain()

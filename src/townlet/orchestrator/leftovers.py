"""Who holds a port we need, whether it is a Townlet, and how to end it.

A busy port at start-up is usually an earlier Townlet: one still running in another terminal,
or a Vite left behind by a version without the child guard. Naming it (and offering to end it)
beats "port in use". Linux only, through /proc; elsewhere nothing is found and the plain
port-in-use message stands.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

_LISTEN = "0A"  # TCP state code in /proc/net/tcp
_TOWNLET_MARKERS = ("run_demo.py", "child_guard.py", "townlet")


@dataclass(frozen=True)
class PortHolder:
    pid: int
    command: str
    age_seconds: float | None

    def describe(self) -> str:
        age = f", started {_format_age(self.age_seconds)} ago" if self.age_seconds else ""
        return f"pid {self.pid}: {self.command[:120]}{age}"


def _listening_inodes(port: int) -> set[str]:
    inodes: set[str] = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            local, state, inode = fields[1], fields[3], fields[9]
            if state == _LISTEN and int(local.rsplit(":", 1)[1], 16) == port:
                inodes.add(inode)
    return inodes


def _pids_holding(inodes: set[str]) -> list[int]:
    wanted = {f"socket:[{inode}]" for inode in inodes}
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in (entry / "fd").iterdir():
                if os.readlink(fd) in wanted:
                    found.append(int(entry.name))
                    break
    return sorted(found)


def _command(pid: int) -> str:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode(errors="replace").strip()


def _age_seconds(pid: int) -> float | None:
    try:
        start_ticks = int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return None
    return max(uptime - start_ticks / os.sysconf("SC_CLK_TCK"), 0.0)


def _is_townlet(pid: int, command: str) -> bool:
    if any(marker in command for marker in _TOWNLET_MARKERS):
        return True
    # An orphaned Vite of ours: its working folder is our frontend.
    with contextlib.suppress(OSError):
        package = Path(os.readlink(f"/proc/{pid}/cwd")) / "package.json"
        return "townlet-frontend" in package.read_text()
    return False


def find_townlet_holding(port: int) -> PortHolder | None:
    """The Townlet process listening on ``port``, if the holder is one of ours."""
    for pid in _pids_holding(_listening_inodes(port)):
        if pid == os.getpid():
            continue
        command = _command(pid)
        if _is_townlet(pid, command):
            return PortHolder(pid=pid, command=command, age_seconds=_age_seconds(pid))
    return None


def end_holder(holder: PortHolder, timeout: float = 10.0) -> bool:
    """SIGTERM the holder (its whole group when it leads one), SIGKILL after ``timeout``.

    A running Townlet treats SIGTERM as Ctrl+C: it saves a final checkpoint and stops in order.
    """
    try:
        group = os.getpgid(holder.pid)
    except ProcessLookupError:
        return True
    use_group = group == holder.pid and group != os.getpgrp()

    def send(sig: signal.Signals) -> None:
        with contextlib.suppress(ProcessLookupError):
            if use_group:
                os.killpg(group, sig)
            else:
                os.kill(holder.pid, sig)

    send(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not _running(holder.pid):
            return True
        time.sleep(0.05)
    send(signal.SIGKILL)
    deadline = time.monotonic() + 2.0
    while _running(holder.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _running(holder.pid)


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _format_age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"

"""System samples for the page's system panel: CPU and memory of the training and live server
processes, and each GPU.

CPU and memory are read from ``/proc`` (Linux): the training process is this process's parent
when the live server runs in a process of its own, and its figures are what an operator wants.
Elsewhere only this process is measured, through ``os.times``.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel

from townlet.monitoring.gpu import GpuReader

SAMPLE_EVERY_SECONDS = 2.0
_PROC = Path("/proc")
_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class GpuSample(BaseModel):
    index: int
    name: str
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    temperature_c: float | None
    power_watts: float | None


class SystemSample(BaseModel):
    """One moment of the machine as the system panel charts it."""

    t: float  # unix seconds
    cpu_percent: float  # training + live server processes, % of one core (200 = two cores)
    memory_bytes: int  # their resident memory together
    memory_total_bytes: int  # the machine's
    gpus: list[GpuSample]


@dataclass(frozen=True)
class ProcessFigures:
    cpu_seconds: float
    resident_bytes: int
    threads: int
    open_files: int


def process_figures(pid: int) -> ProcessFigures | None:
    """CPU time, resident memory, threads and open descriptors of ``pid``; None if unreadable."""
    base = _PROC / str(pid)
    try:
        # Fields after the last ")" are fixed; the command name before it may hold spaces.
        stat = (base / "stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(stat[11]) + int(stat[12])) / _TICKS  # utime + stime
        threads = int(stat[17])
        resident = int((base / "statm").read_text().split()[1]) * _PAGE
        open_files = len(os.listdir(base / "fd"))
    except (OSError, IndexError, ValueError):
        if pid != os.getpid():
            return None
        times = os.times()  # no /proc (macOS): at least this process
        return ProcessFigures(times.user + times.system, 0, 0, 0)
    return ProcessFigures(cpu, resident, threads, open_files)


def memory_total_bytes() -> int:
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (AttributeError, ValueError, OSError):
        return 0


class SystemSampler:
    """Turns successive readings into samples: CPU is a rate, so each sample covers the time
    since the one before."""

    def __init__(self, pids: dict[str, int], gpus: GpuReader) -> None:
        self.pids = pids  # role ("training", "server") -> pid, one role per pid
        self.gpus = gpus
        self.total_memory = memory_total_bytes()
        self._last: tuple[float, float] | None = None  # (monotonic, cpu seconds)

    def sample(self) -> SystemSample:
        now = time.monotonic()
        figures = [f for pid in self.pids.values() if (f := process_figures(pid)) is not None]
        cpu = sum(f.cpu_seconds for f in figures)
        percent = 0.0
        if self._last is not None and now > self._last[0]:
            percent = max(0.0, (cpu - self._last[1]) / (now - self._last[0]) * 100.0)
        self._last = (now, cpu)
        return SystemSample(
            t=round(time.time(), 3),
            cpu_percent=round(percent, 1),
            memory_bytes=sum(f.resident_bytes for f in figures),
            memory_total_bytes=self.total_memory,
            gpus=[GpuSample(**vars(reading)) for reading in self.gpus.read()],
        )

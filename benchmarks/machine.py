"""What every benchmark prints about the machine it ran on, and the malloc settings it needs."""

from __future__ import annotations

import os
import platform
import sys
import time
from pathlib import Path

# glibc returns freed large blocks to the OS (and faults them back in) unless told otherwise,
# which made 4096-world runs swing by a factor of four. The settings only take effect at
# process start, so a benchmark re-execs itself once with them set.
_MALLOC_ENV = {"MALLOC_MMAP_THRESHOLD_": "33554432", "MALLOC_TRIM_THRESHOLD_": "1000000000000"}


def reexec_with_malloc_settings() -> None:
    if any(os.environ.get(k) != v for k, v in _MALLOC_ENV.items()):
        os.environ.update(_MALLOC_ENV)
        os.execv(sys.executable, [sys.executable, *sys.argv])


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def busy_cores(seconds: float = 1.0) -> float | None:
    """Cores kept busy by other processes while this one sleeps (Linux /proc/stat)."""

    def sample() -> tuple[int, int]:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
        idle = fields[3] + fields[4]  # idle + iowait
        return sum(fields) - idle, sum(fields)

    try:
        busy0, total0 = sample()
        time.sleep(seconds)
        busy1, total1 = sample()
    except (OSError, ValueError, IndexError):
        return None
    return (busy1 - busy0) / max(1, total1 - total0) * (os.cpu_count() or 1)


def describe_busy(label: str) -> str:
    busy = busy_cores()
    if busy is None:
        return f"- other processes {label}: unknown"
    return f"- other processes {label}: {busy:.2f} cores busy"


def machine_lines(device: str = "cpu") -> list[str]:
    import torch

    lines = [
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores",
        f"- torch {torch.__version__} on {platform.python_implementation()} "
        f"{platform.python_version()}, {torch.get_num_threads()} torch thread(s)",
    ]
    if device.startswith("cuda") and torch.cuda.is_available():
        lines.append(f"- GPU: {torch.cuda.get_device_name(0)}")
    lines.append(describe_busy("before the run"))
    return lines

"""Per-GPU figures through NVIDIA's management library (``nvidia-ml-py``), when there is one.

The library is imported lazily and every failure becomes a note (``GpuReader.note``) instead
of an error: a machine without an NVIDIA GPU, without the driver or without the package is a
normal machine, and the page says so in words.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from dataclasses import dataclass
from types import ModuleType
from typing import Any

log = logging.getLogger("townlet.inference")


@dataclass(frozen=True)
class GpuReading:
    index: int
    name: str
    utilization_percent: float
    memory_used_bytes: int
    memory_total_bytes: int
    temperature_c: float | None
    power_watts: float | None


class GpuReader:
    """Opens NVML once; ``read()`` gives one reading per device (empty without a GPU)."""

    def __init__(self) -> None:
        self.note: str | None = None
        self._nvml: ModuleType | None = None
        self._handles: list[Any] = []
        self._lock = threading.Lock()  # NVML calls come from worker threads
        try:
            import pynvml  # the nvidia-ml-py package
        except ImportError:
            self.note = (
                "no NVIDIA GPU found (nvidia-ml-py is not installed: "
                "pip install nvidia-ml-py, or .venv/bin/pip install -e '.[gpu]')"
            )
            return
        try:
            pynvml.nvmlInit()
            count = pynvml.nvmlDeviceGetCount()
            self._handles = [pynvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
        except pynvml.NVMLError as error:
            self.note = f"no NVIDIA GPU found (nvidia-ml-py: {error})"
            return
        if not self._handles:
            self.note = "no NVIDIA GPU found (nvidia-ml-py: the driver lists no device)"
            pynvml.nvmlShutdown()
            return
        self._nvml = pynvml

    def read(self) -> list[GpuReading]:
        nvml = self._nvml
        if nvml is None:
            return []
        readings = []
        with self._lock:
            for index, handle in enumerate(self._handles):
                try:
                    memory = nvml.nvmlDeviceGetMemoryInfo(handle)
                    utilization = nvml.nvmlDeviceGetUtilizationRates(handle)
                    name = nvml.nvmlDeviceGetName(handle)
                except nvml.NVMLError as error:
                    log.debug("GPU %d did not answer: %s", index, error)
                    continue
                readings.append(
                    GpuReading(
                        index=index,
                        name=name.decode() if isinstance(name, bytes) else str(name),
                        utilization_percent=float(utilization.gpu),
                        memory_used_bytes=int(memory.used),
                        memory_total_bytes=int(memory.total),
                        temperature_c=_optional(
                            lambda h=handle: nvml.nvmlDeviceGetTemperature(
                                h, nvml.NVML_TEMPERATURE_GPU
                            ),
                            nvml,
                        ),
                        # NVML reports milliwatts.
                        power_watts=_optional(
                            lambda h=handle: nvml.nvmlDeviceGetPowerUsage(h) / 1000.0, nvml
                        ),
                    )
                )
        return readings

    def close(self) -> None:
        with self._lock:
            if self._nvml is not None:
                with contextlib.suppress(self._nvml.NVMLError):
                    self._nvml.nvmlShutdown()
                self._nvml = None


def _optional(read: Any, nvml: ModuleType) -> float | None:
    """Some boards do not report temperature or power: None, not an error."""
    try:
        return float(read())
    except nvml.NVMLError:
        return None

"""Helpers for sweep tests: a tiny config file, the townlet command as a process, Ray's
processes on this machine (to check that none is left behind)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from tests.support.tiny import tiny_config
from townlet.config import config_to_dict

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RAY_SERVICES = ("raylet", "gcs_server")


def write_tiny_config(folder: Path, **training: object) -> Path:
    """Level 1's world with a tiny learner, short episodes and a quick evaluation."""
    data = config_to_dict(tiny_config(learning_starts=64, **training))
    data["name"] = "tiny_sweep"
    data["world"]["step_cap"] = 100
    data["checkpoint"]["every_seconds"] = 1.0
    data["evaluation"]["worlds"] = 4
    data["logging"]["tensorboard_every_seconds"] = 0.2
    path = folder / "tiny_sweep.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def townlet_env(**extra: str) -> dict[str, str]:
    source = str(PROJECT_ROOT / "src")
    path = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "NO_COLOR": "1", **extra}


def start_townlet(args: list[str], log: Path, **env: str) -> subprocess.Popen[bytes]:
    """``python -m townlet ARGS`` with its output in ``log``."""
    with log.open("wb") as handle:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(
            [sys.executable, "-m", "townlet", *args],
            cwd=PROJECT_ROOT,
            env=townlet_env(**env),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )


def run_townlet(args: list[str], timeout: float = 60.0, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "townlet", *args],
        cwd=PROJECT_ROOT,
        env=townlet_env(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ray_service_pids() -> set[int]:
    """Pids of Ray's cluster processes on this machine (any owner's cluster)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            name = (entry / "comm").read_text().strip()
        except OSError:
            continue
        if name in RAY_SERVICES:
            found.add(int(entry.name))
    return found


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)


def none_left(before: set[int], timeout: float = 15.0) -> None:
    """Every Ray process that was not there before the test has ended."""
    wait_for(lambda: not (ray_service_pids() - before), timeout, "Ray's processes to end")

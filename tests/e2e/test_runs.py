"""Runs as a user handles them from several terminals: real run_demo.py processes and the
real `townlet` command, sharing one runs folder."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.demo_process import DemoProcess, alive, demo_args, free_port, write_tiny_config
from tests.support.tiny import PROJECT_ROOT
from townlet.registry.events import read_events

pytestmark = pytest.mark.e2e


def townlet(runs: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "townlet", *args, "--runs-dir", str(runs)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")},
    )


def listed(runs: Path) -> dict[str, dict[str, Any]]:
    done = townlet(runs, "list", "--json")
    assert done.returncode == 0, done.stderr
    return {run["name"]: run for run in json.loads(done.stdout)}


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def start(config: Path, runs: Path, name: str, *extra: str) -> DemoProcess:
    return DemoProcess([*demo_args(config, runs, free_port(), None), "--name", name, *extra])


def test_two_runs_listed_one_stopped_from_another_terminal_one_killed_and_lost(
    tmp_path: Path,
) -> None:
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    first = start(config, runs, "first")
    demos = [first]
    try:
        first.wait_for_line(r"ready in [\d.]+ s", timeout=120)
        # The same config and seed while it runs: refused, naming it.
        twin = start(config, runs, "twin")
        demos.append(twin)
        assert twin.process.wait(60) == 2
        twin.drain()
        first_id = listed(runs)["first"]["id"]
        assert f"already running as {first_id}" in twin.log()
        assert "twin" not in listed(runs)

        second = start(config, runs, "second", "--new")
        demos.append(second)
        second.wait_for_line(r"ready in [\d.]+ s", timeout=120)
        wait_until(
            lambda: {r["status"] for r in listed(runs).values()} == {"running"}, 10, "running"
        )

        stopped = townlet(runs, "stop", first_id[:4])
        assert stopped.returncode == 0, stopped.stdout + stopped.stderr
        assert first.process.wait(30) == 0
        run = listed(runs)["first"]
        assert run["status"] == "stopped"
        assert run["end_reason"] == "townlet stop; final checkpoint written"
        assert listed(runs)["second"]["status"] == "running"

        os.kill(second.process.pid, signal.SIGKILL)
        second.process.wait(10)
        wait_until(lambda: listed(runs)["second"]["status"] == "lost", 30, "lost")

        # Resume continues the stopped run: same id, same folder, counters go on.
        before = listed(runs)["first"]
        resumed = DemoProcess(
            [
                "--config", str(config), "--runs-dir", str(runs), "--resume-run", first_id,
                "--port", str(free_port()), "--no-frontend", "--no-browser",
            ]
        )  # fmt: skip
        demos.append(resumed)
        resumed.wait_for_line(r"resuming from .*episode \d+", timeout=120)
        wait_until(
            lambda: listed(runs)["first"]["env_step"] > before["env_step"], 30, "counters to go on"
        )
        again = listed(runs)["first"]
        assert again["id"] == first_id and again["run_dir"] == before["run_dir"]
        assert townlet(runs, "stop", first_id).returncode == 0
        assert resumed.process.wait(30) == 0
        events = read_events(Path(before["run_dir"]) / "events.jsonl")
        assert [e["event"] for e in events].count("run_started") == 2
        assert events[-1]["event"] == "run_finished" and events[-1]["status"] == "stopped"
    finally:
        for demo in demos:
            demo.kill_everything()
    for demo in demos:
        assert not alive(demo.process.pid)


def test_a_damaged_registry_does_not_stop_a_run(tmp_path: Path) -> None:
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    runs.mkdir()
    (runs / "registry.sqlite").write_bytes(b"not a database at all " * 200)
    demo = start(config, runs, "anyway")
    try:
        demo.wait_for_line(r"ready in [\d.]+ s", timeout=120)
        assert "is damaged" in demo.log() and "without the registry" in demo.log()
        listing = townlet(runs, "list")
        assert listing.returncode == 2 and "is damaged" in listing.stdout + listing.stderr
        assert "Traceback" not in listing.stdout + listing.stderr
        demo.interrupt()
        assert demo.process.wait(30) == 0
    finally:
        demo.kill_everything()

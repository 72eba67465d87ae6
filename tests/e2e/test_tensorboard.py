"""TensorBoard as a managed child: real tensorboard, real event files, real process groups."""

from __future__ import annotations

import json
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from torch.utils.tensorboard import SummaryWriter

from tests.support.demo_process import PROJECT_ROOT, free_port
from townlet.orchestrator import tensorboard
from townlet.orchestrator.tensorboard import TensorBoardError, TensorBoardProcess

pytestmark = pytest.mark.e2e

RUN = "tiny_level_1/2024-01-01_000000/tensorboard"


def wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def group_gone(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return True
    return False


def group_members(group: int) -> set[int]:
    """Processes in ``group``, read from /proc (zombies included: they still count)."""
    members = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[2]) == group:
                members.add(int(entry.name))
    return members


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=2.0) as response:
        return json.loads(response.read())


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    """A runs folder laid out as run_demo.py writes it, with one real event file."""
    writer = SummaryWriter(str(tmp_path / "runs" / RUN))
    for step in range(3):
        writer.add_scalar("charts/survival_time", 10.0 + step, step)
    writer.close()
    return tmp_path / "runs"


@pytest.fixture
def busy_port() -> Iterator[int]:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        yield holder.getsockname()[1]


def test_serves_the_runs_folder_and_stop_leaves_nothing(
    runs: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="townlet.tensorboard")
    board = TensorBoardProcess(runs, port=free_port())
    board.start()
    try:
        board.wait_until_serving(threading.Event(), timeout=30)
        assert board.alive
        # It reads the folder in the background: the run shows up within a reload or two.
        assert wait_until(lambda: RUN in get_json(f"{board.url}data/runs"), timeout=15)
        tags = get_json(f"{board.url}data/plugin/scalars/tags")
        assert "charts/survival_time" in tags[RUN]
    finally:
        group = board.process.pid if board.process is not None else None
        board.stop()
    assert not board.alive
    assert group is not None
    assert wait_until(lambda: group_gone(group), timeout=10), group_members(group)
    # Its chatter is relayed under its own logger, quietly; nothing it said was an error.
    lines = [r for r in caplog.records if r.name == "townlet.tensorboard"]
    assert any(f"at {board.url}" in r.getMessage() for r in lines), [r.message for r in lines]
    assert all(r.levelno == logging.DEBUG for r in lines), [r.message for r in lines]


def test_a_busy_port_is_named_before_launch(runs: Path, busy_port: int) -> None:
    board = TensorBoardProcess(runs, port=busy_port)
    started = time.monotonic()
    with pytest.raises(TensorBoardError, match=rf"port {busy_port} .*--tensorboard PORT"):
        board.start()
    assert time.monotonic() - started < 2.0
    assert board.process is None  # nothing was launched


def test_a_port_taken_after_the_check_fails_with_the_reason(
    runs: Path, busy_port: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Someone takes the port between our check and TensorBoard's bind: it exits on its own.
    monkeypatch.setattr(tensorboard, "check_port_free", lambda _host, _port: None)
    board = TensorBoardProcess(runs, port=busy_port)
    board.start()
    try:
        started = time.monotonic()
        with pytest.raises(
            TensorBoardError, match=rf"port {busy_port} is busy.*--tensorboard PORT"
        ):
            board.wait_until_serving(threading.Event(), timeout=20)
        assert time.monotonic() - started < 15
    finally:
        board.stop()
    assert board.process is not None
    group = board.process.pid
    assert wait_until(lambda: group_gone(group), timeout=10), group_members(group)


PARENT = """
import sys, threading
from pathlib import Path
from townlet.orchestrator.tensorboard import TensorBoardProcess
board = TensorBoardProcess(Path(sys.argv[1]), port=int(sys.argv[2]))
board.start()
board.wait_until_serving(threading.Event(), timeout=30)
print(board.process.pid, flush=True)
threading.Event().wait()
"""


def test_tensorboard_ends_when_its_parent_is_killed(runs: Path) -> None:
    environment = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT / "src")}
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(runs), str(free_port())],
        cwd=PROJECT_ROOT,
        env=environment,
        stdout=subprocess.PIPE,
        text=True,
    )
    group: int | None = None
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline()  # blocks until it serves; the parent's timeout bounds it
        assert line.strip().isdigit(), f"parent did not report TensorBoard serving: {line!r}"
        group = int(line)
        assert len(group_members(group)) >= 2  # the guard and TensorBoard (and its data server)
        parent.kill()  # SIGKILL: no chance to stop anything
        parent.wait(10)
        assert wait_until(lambda: group_gone(group), timeout=15), group_members(group)
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait(10)
        if parent.stdout is not None:
            parent.stdout.close()
        if group is not None and not group_gone(group):
            os.killpg(group, signal.SIGKILL)

"""Process faults with real processes: kill -9, a leftover on our port, early and double Ctrl+C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from tests.support.demo_process import (
    PROJECT_ROOT,
    VITE,
    DemoProcess,
    alive,
    demo_args,
    descendants,
    free_port,
    write_tiny_config,
)

pytestmark = pytest.mark.e2e

needs_vite = pytest.mark.skipif(not VITE.exists(), reason="needs frontend/node_modules (npm ci)")


def wait_until(condition: Callable[[], bool], timeout: float, every: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(every)
    return condition()


def stop_with_ctrl_c(demo: DemoProcess) -> int:
    demo.interrupt()
    code = demo.process.wait(timeout=30)
    demo.drain()
    return code


@needs_vite
def test_kill_9_leaves_no_orphan_and_the_next_start_gets_the_same_ports(tmp_path: Path) -> None:
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    api_port, frontend_port = free_port(), free_port()
    demo = DemoProcess(demo_args(config, runs, api_port, frontend_port))
    try:
        demo.wait_for_line(r"ready in", timeout=120)
        tree = descendants(demo.process.pid)
        commands = [_command(pid) for pid in tree]
        assert any("vite" in command for command in commands), commands
        assert any("townlet.live.server_child" in command for command in commands), commands
        os.kill(demo.process.pid, signal.SIGKILL)
        demo.process.wait(10)
        # However the orchestrator dies, its frontend goes with it, within a few seconds.
        assert wait_until(lambda: not any(alive(pid) for pid in tree), timeout=5), [
            pid for pid in tree if alive(pid)
        ]
    finally:
        demo.kill_everything()

    again = DemoProcess(demo_args(config, runs, api_port, frontend_port))
    try:
        again.wait_for_line(r"ready in", timeout=120)
        assert stop_with_ctrl_c(again) == 0, again.log()
    finally:
        if again.process.poll() is None:
            again.kill_everything()
    assert "resuming from" in again.log()


@needs_vite
def test_a_leftover_townlet_on_the_port_is_named_and_ended_on_request(tmp_path: Path) -> None:
    """What an older Townlet left after kill -9: a Vite in its own group, holding the port."""
    frontend_port = free_port()
    leftover = subprocess.Popen(
        [str(VITE), "--port", str(frontend_port), "--strictPort", "--host", "127.0.0.1"],
        cwd=PROJECT_ROOT / "frontend",
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
    )
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    try:
        assert wait_until(lambda: _listening(frontend_port), timeout=30)
        refused = DemoProcess(demo_args(config, runs, free_port(), frontend_port))
        assert refused.process.wait(timeout=60) == 2
        refused.drain()
        log = refused.log()
        assert f"port {frontend_port} is held by an earlier Townlet (pid {leftover.pid}" in log
        assert "--stop-leftover" in log and "Traceback" not in log
        assert leftover.poll() is None, "nothing is ended without being asked"
        assert not runs.exists()

        demo = DemoProcess(
            [*demo_args(config, runs, free_port(), frontend_port), "--stop-leftover"]
        )
        try:
            demo.wait_for_line(r"ready in", timeout=120)
            assert leftover.poll() is not None, "the leftover should have been ended"
            assert f"ending the earlier Townlet on port {frontend_port}" in demo.log()
            assert stop_with_ctrl_c(demo) == 0, demo.log()
        finally:
            if demo.process.poll() is None:
                demo.kill_everything()
    finally:
        if leftover.poll() is None:
            os.killpg(leftover.pid, signal.SIGKILL)
        leftover.wait(10)


def _command(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _listening(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("after_seconds", [0.2, 1.0, 2.0])
def test_ctrl_c_while_starting_is_one_line_and_leaves_nothing(
    tmp_path: Path, after_seconds: float
) -> None:
    """Wherever start-up has got to, a Ctrl+C ends the run cleanly: before the run began it
    says so in one line and leaves no run folder; once training began (the run folder
    announced), training stops with its final checkpoint, as in an ordinary stop."""
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    demo = DemoProcess(demo_args(config, runs, free_port(), None))
    try:
        time.sleep(after_seconds)  # the point of the test is the moment, not a condition
        demo.interrupt()
        code = demo.process.wait(timeout=60)
        demo.drain()
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()
    log = demo.log()
    assert code == 0, log
    assert "Traceback" not in log and "KeyboardInterrupt" not in log, log
    if "writing to" in log:  # a fast machine got past building the parts
        assert "training stopped; final checkpoint written" in log, log
        assert "live server stopped" in log, log
        assert any(runs.rglob("*.pt")), "the stopped run keeps its checkpoint"
    else:
        assert "stopped before start" in log, log
        assert not runs.exists() or not any(runs.rglob("*")), "no empty run folder may be left"


def test_a_second_ctrl_c_cuts_a_slow_final_save_short(tmp_path: Path) -> None:
    """A replay buffer saved with the checkpoint makes the final save take seconds."""
    config = write_tiny_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["training"].update({"replay_capacity": 1_000_000, "save_replay": True})
    data["checkpoint"]["every_seconds"] = 3600.0
    config.write_text(yaml.safe_dump(data))
    runs = tmp_path / "runs"
    demo = DemoProcess(demo_args(config, runs, free_port(), None))
    try:
        demo.wait_for_line(r"ready in", timeout=180)
        first_save = demo.wait_for_line(r"checkpoint written: (\S+)", timeout=180)
        started = time.monotonic()
        demo.interrupt()
        demo.wait_for_line(r"stopping \(press Ctrl\+C again", timeout=10)
        time.sleep(1.0)  # well inside the final save, which takes several seconds here
        assert demo.process.poll() is None, "the final save should still be running"
        second = time.monotonic()
        demo.interrupt()
        code = demo.process.wait(timeout=30)
        gone_after = time.monotonic() - second
        demo.drain()
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()
    log = demo.log()
    assert "not waiting for training to finish its final save" in log, log
    assert code != 0, "a final save that did not happen is not a clean exit"
    assert gone_after < 3.0, f"{gone_after:.1f} s after the second Ctrl+C\n{log}"
    assert "Traceback" not in log, log
    # What was saved before is intact and loadable.
    saved = next(runs.rglob(first_save[1]))
    from townlet.checkpoints import load_checkpoint

    assert load_checkpoint(saved)["counters"]["env_step"] >= 0
    print(f"second Ctrl+C -> gone in {gone_after:.2f} s ({time.monotonic() - started:.1f} s total)")
    print("\n".join(demo.lines[-8:]))

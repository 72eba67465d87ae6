"""A crash in live play is loud, visible on /health, survived once, and fatal on repeat.

The fault is injected by replacing one method of the real player with one that raises; the
server, its loop and the supervision around it are the real ones.
"""

from __future__ import annotations

import io
import logging
import socket
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.support.live import get, live_server, receive_until, session_of, tiny_trainer, wait_for
from townlet.live.player import LivePlayer
from townlet.live.protocol import Message
from townlet.live.restarts import RestartPolicy
from townlet.live.server_thread import LiveServerThread
from townlet.orchestrator.console_log import configure_console_logging


class Fault(RuntimeError):
    pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServerThread]:
    with live_server(tiny_trainer(tmp_path)) as thread:
        yield thread


def break_ticks(player: LivePlayer, times: int | None) -> list[float]:
    """Make the next ``times`` ticks raise (None: all of them); returns when each raised."""
    real_tick = player.tick
    raised: list[float] = []

    def tick() -> list[Message]:
        if times is None or len(raised) < times:
            raised.append(time.time())
            raise Fault(f"tick {len(raised)} broke on purpose")
        return real_tick()

    player.tick = tick  # type: ignore[method-assign]
    return raised


def crash_records(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.name == "townlet.inference" and r.exc_info]


def test_a_crash_is_logged_at_once_and_health_fails_until_play_resumes(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    answers: list[tuple[int, Any]] = []

    def health_is(status: int) -> bool:
        answers.append(get(server, "/health"))
        return answers[-1][0] == status

    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        receive_until(ws, "state")
        raised = break_ticks(session_of(server).player, times=2)

        wait_for(lambda: health_is(503), 5, "/health answering 503")
        body = answers[-1][1]
        assert body["status"] == "failing" and "tick 1 broke on purpose" in body["error"]
        first = crash_records(caplog)[0]
        assert first.levelno == logging.ERROR and first.exc_info is not None
        assert first.exc_info[0] is Fault
        assert first.created - raised[0] < 0.5, "logged when it happened, not at shutdown"
        assert "restarting it in 0.5 s" in first.getMessage()

        # The second crash waits 1 s, then play goes on and /health recovers.
        wait_for(lambda: health_is(200), 10, "/health recovering")
        assert answers[-1][1]["status"] == "ok" and answers[-1][1]["error"] is None
        assert len(raised) == 2
        assert "restarting it in 1.0 s" in crash_records(caplog)[1].getMessage()
        before = receive_until(ws, "state")
        assert receive_until(ws, "state")["step"] in (before["step"] + 1, 0)
    assert server.fatal_error is None


def test_a_loop_that_keeps_crashing_gives_up_with_a_fatal_error(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    raised = break_ticks(session_of(server).player, times=None)
    wait_for(lambda: server.fatal_error is not None, 10, "a fatal error")
    assert len(raised) == 3, "three crashes within the minute, then no more restarts"
    assert server.fatal_error is not None
    assert "crashed 3 times within 60 s" in server.fatal_error
    assert "Fault: tick 3 broke on purpose" in server.fatal_error
    status, body = get(server, "/health")
    assert status == 503 and body["status"] == "failed" and body["error"] == server.fatal_error
    assert len(crash_records(caplog)) == 3  # one traceback per crash, no more
    assert "giving up" in crash_records(caplog)[-1].getMessage()
    time.sleep(1.0)
    assert len(raised) == 3 and server.alive  # the orchestrator decides what happens next


@pytest.fixture
def console() -> Iterator[io.StringIO]:
    """configure_console_logging() writing to a buffer; the global state restored afterwards."""
    names = ("townlet", "uvicorn")
    saved = [
        (logger, logger.handlers[:], logger.level, logger.propagate)
        for logger in map(logging.getLogger, names)
    ]
    excepthook = threading.excepthook  # configure_console_logging sets it too
    stream = io.StringIO()
    real_stderr, sys.stderr = sys.stderr, stream
    try:
        configure_console_logging()
    finally:
        sys.stderr = real_stderr
    yield stream
    threading.excepthook = excepthook
    for logger, handlers, level, propagate in saved:
        logger.handlers[:], logger.level, logger.propagate = handlers, level, propagate


def test_uvicorn_lines_carry_the_inference_prefix(console: io.StringIO, tmp_path: Path) -> None:
    with live_server(tiny_trainer(tmp_path)) as server:
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
            sock.sendall(b"NOT HTTP\r\n\r\n")  # uvicorn warns about it itself
            sock.recv(4096)
        wait_for(lambda: "Invalid HTTP request" in console.getvalue(), 5, "uvicorn's warning")
        assert get(server, "/health")[0] == 200  # access lines stay quiet
    lines = console.getvalue().splitlines()
    warning = next(line for line in lines if "Invalid HTTP request" in line)
    assert "[Inference] WARNING: Invalid HTTP request received." in warning
    assert not [line for line in lines if "GET /health" in line]


def test_only_crashes_within_the_window_count_towards_giving_up() -> None:
    now = [0.0]
    policy = RestartPolicy(max_crashes=3, window_seconds=60.0, clock=lambda: now[0])
    assert policy.after_crash() == 0.5
    now[0] = 30.0
    assert policy.after_crash() == 1.0
    now[0] = 70.0  # the first crash is more than a minute old: two recent ones, not three
    assert policy.after_crash() == 1.0
    now[0] = 80.0
    assert policy.after_crash() is None

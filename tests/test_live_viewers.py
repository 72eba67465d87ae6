"""Viewers that stop reading are dropped within seconds and never slow the others down."""

from __future__ import annotations

import itertools
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.live import get, live_server, raw_handshake, receive, tiny_trainer
from townlet.live.server_thread import LiveServerThread

STALLED = 5


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServerThread]:
    with live_server(tiny_trainer(tmp_path)) as thread:
        yield thread


def test_stalled_viewers_are_dropped_and_a_healthy_one_keeps_its_pace(
    server: LiveServerThread,
) -> None:
    stalled: list[socket.socket] = []
    try:
        with connect(f"ws://127.0.0.1:{server.port}/ws") as healthy:
            for _ in range(STALLED):
                # A 4 KiB receive window, and nothing read after the handshake.
                status, sock = raw_handshake(
                    server.port, {"Host": f"127.0.0.1:{server.port}"}, receive_buffer=4096
                )
                assert status == 101
                stalled.append(sock)
            assert get(server, "/health")[1]["clients"] == 1 + STALLED
            opened = time.monotonic()

            # Read as a page does, checking the server's client count between states.
            arrivals: list[float] = []
            dropped_after: float | None = None
            next_check = opened
            while dropped_after is None or time.monotonic() - opened < dropped_after + 2.0:
                now = time.monotonic()
                assert now - opened < 20, "the stalled viewers were never dropped"
                if receive(healthy)["type"] == "state":
                    arrivals.append(time.monotonic())
                if dropped_after is None and now >= next_check:
                    next_check = now + 0.25
                    if get(server, "/health")[1]["clients"] == 1:
                        dropped_after = now - opened
    finally:
        for sock in stalled:
            sock.close()

    assert dropped_after is not None and dropped_after < 10, dropped_after
    gaps = [b - a for a, b in itertools.pairwise([opened, *arrivals])]
    assert max(gaps) < 1.0, f"the healthy viewer waited {max(gaps):.2f} s for a state"
    rate = len(arrivals) / (arrivals[-1] - opened)
    assert rate > 20, f"the healthy viewer got {rate:.1f} states/s at a pace of 60"

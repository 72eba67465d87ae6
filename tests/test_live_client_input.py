"""Whatever a client sends, the server answers with an `error` and keeps going.

Fuzzing once produced tracebacks (binary frames, deep nesting, huge numbers) and let NaN
through as the pace. Each frame here gets an `error` reply naming the problem, the connection
stays usable, the pace stays a finite number, and nothing is logged above DEBUG.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.live import (
    get,
    live_server,
    raw_handshake,
    receive,
    receive_until,
    tiny_trainer,
)
from townlet.live.server_thread import LiveServerThread


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServerThread]:
    with live_server(tiny_trainer(tmp_path)) as thread:
        yield thread


def speed(value: str) -> str:
    """A set_speed frame with ``value`` written verbatim as the JSON value."""
    return '{"type": "set_speed", "steps_per_second": ' + value + "}"


FUZZ: list[tuple[str, str | bytes, str]] = [
    ("binary frame", b'{"type": "set_speed", "steps_per_second": 10}', "binary frames"),
    ("invalid UTF-8 (as bytes)", b"\xff\xfe\xfd", "binary frames"),
    ("10,000-deep list", "[" * 10_000 + "]" * 10_000, "message too large (20000 bytes"),
    ("2,000-deep list", "[" * 2_000 + "]" * 2_000, "nested too deeply"),
    ("5,000-digit number", speed("9" * 5_000), "message too large"),
    ("4,000-digit number", speed("9" * 4_000), "number too long (4000 digits"),
    ("NaN", speed("NaN"), "NaN is not a JSON number"),
    ("Infinity", speed("Infinity"), "Infinity is not a JSON number"),
    ("-Infinity", speed("-Infinity"), "-Infinity is not a JSON number"),
    ("1e999", speed("1e999"), "steps_per_second must be a finite number"),
    ("true", speed("true"), "steps_per_second must be a finite number"),
    ("false", speed("false"), "steps_per_second must be a finite number"),
    ('"10"', speed('"10"'), "steps_per_second must be a finite number"),
    ("null", speed("null"), "steps_per_second must be a finite number"),
    ("unknown type", '{"type": "x"}', "unknown message type 'x': expected pause_play"),
    ("missing field", '{"type": "set_speed"}', "missing field 'steps_per_second'"),
    ("extra field", speed("10, " + '"x": 1'), "unexpected field 'x'"),
    ("not JSON", "not json", "not valid JSON"),
    ("not an object", "[1, 2]", 'a JSON object with a string "type"'),
    ("oversized text", " " * 5_000, "message too large (5000 bytes, limit 4096)"),
]


def pace(server: LiveServerThread) -> float:
    value = get(server, "/api/status")[1]["steps_per_second"]
    assert isinstance(value, float) and math.isfinite(value), value
    return value


def set_speed(ws: ClientConnection, value: float) -> None:
    ws.send(json.dumps({"type": "set_speed", "steps_per_second": value}))


@pytest.mark.parametrize(("name", "frame", "expected"), FUZZ, ids=[f[0] for f in FUZZ])
def test_a_bad_frame_gets_an_error_and_the_socket_stays_usable(
    server: LiveServerThread,
    caplog: pytest.LogCaptureFixture,
    name: str,
    frame: str | bytes,
    expected: str,
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        receive_until(ws, "state")
        set_speed(ws, 12.5)
        ws.send(frame)
        error = receive_until(ws, "error")
        assert expected in error["message"], error
        assert pace(server) == 12.5, "a refused message leaves the pace alone"

        set_speed(ws, 7.5)  # the same socket still works
        ws.send("not json")
        receive_until(ws, "error")  # answered in order: 7.5 has been applied
        assert pace(server) == 7.5
    with connect(f"ws://127.0.0.1:{server.port}/ws") as late:
        assert receive(late)["steps_per_second"] == 7.5  # and a new page sees the town's pace

    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]


def test_one_socket_survives_every_bad_frame_in_a_row(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        for _, frame, _ in FUZZ:
            ws.send(frame)
        errors = [receive_until(ws, "error")["message"] for _ in FUZZ]
        assert all(expected in got for (_, _, expected), got in zip(FUZZ, errors, strict=True))
        set_speed(ws, 3.0)
        ws.send("not json")
        receive_until(ws, "error")
        assert pace(server) == 3.0
        assert receive_until(ws, "state")["type"] == "state"  # still playing, still sending
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]


def test_a_frame_beyond_the_protocol_limit_closes_quietly(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        receive(ws)
        with pytest.raises(ConnectionClosed) as closed:
            # The server may close before the whole megabyte is out: the send itself then
            # reports the close.
            ws.send("x" * 1_000_000)
            for _ in range(1_000):  # what was already on its way, then the close
                ws.recv(timeout=5)
    # 1009 (message too big), when the close frame outruns the reset that the rest of the
    # unread megabyte provokes.
    assert closed.value.rcvd is None or closed.value.rcvd.code == 1009
    assert get(server, "/health")[0] == 200
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]


def test_invalid_utf8_in_a_text_frame_closes_quietly(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    # Client libraries refuse to send this, so the frame is written by hand (masked, as
    # clients must): opcode 0x81 = final text frame.
    status, sock = raw_handshake(server.port, {"Host": f"127.0.0.1:{server.port}"})
    with sock:
        assert status == 101
        payload, mask = b"\xff\xfe\xfd", os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask + masked)
        received = b""
        while chunk := sock.recv(65536):  # the server closes the connection (code 1007)
            received += chunk
    assert b"\x88\x02\x03\xef" in received  # a close frame with code 1007 (0x03ef)
    assert get(server, "/health")[0] == 200
    loud = [r for r in caplog.records if r.levelno >= logging.WARNING or r.exc_info]
    assert not loud, [r.getMessage() for r in loud]

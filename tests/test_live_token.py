"""A token off loopback: every request and WebSocket carries it, or gets 401 and one log line."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.live import get, live_server, post, raw_handshake, receive, tiny_trainer
from townlet.learner.trainer import DQNTrainer
from townlet.live.protocol import PROTOCOL_VERSION
from townlet.live.server_thread import LiveServerThread

TOKEN = "s3cret-token-for-tests-0123456789"
HOST = "127.0.0.2"  # off 127.0.0.1, as a trainer served to other machines is


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServerThread]:
    trainer: DQNTrainer = tiny_trainer(tmp_path)
    with live_server(trainer, token=TOKEN, host=HOST, controls=True) as thread:
        yield thread


def bearer(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_http_without_or_with_a_wrong_token_is_401_and_logged_once_without_traceback(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="townlet")
    for path in ("/health", "/api/status", "/api/checkpoints", "/api/runs"):
        status, body = get(server, path)
        assert status == 401, (path, body)
        assert "token" in body["error"]
    assert get(server, "/health", bearer("wrong-token-of-enough-length"))[0] == 401
    assert get(server, "/health", {"Authorization": TOKEN})[0] == 401  # not "Bearer ..."
    status, body = post(server, "/api/play/speed", {"steps_per_second": 30})
    assert status == 401, body
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.getMessage() for r in warnings] == [
        "refused a request with token from '127.0.0.1': no token",
        "refused a request with token from '127.0.0.1': a wrong token",
    ]
    assert not any(r.exc_info for r in caplog.records)


def test_the_token_as_bearer_query_or_cookie_is_let_in(server: LiveServerThread) -> None:
    status, body = get(server, "/health", bearer())
    assert (status, body["protocol_version"]) == (200, PROTOCOL_VERSION)
    assert get(server, f"/health?token={TOKEN}")[0] == 200
    assert get(server, "/health", {"Cookie": f"theme=dark; townlet_token={TOKEN}"})[0] == 200
    status, body = post(server, "/api/play/speed", {"steps_per_second": 30}, bearer())
    assert (status, body["message"]) == (200, "pace set to 30 steps/s")


def test_with_a_token_the_host_may_be_any_name(server: LiveServerThread) -> None:
    """A trainer is reached as gpu-box:8766; the token, not the Host check, keeps pages out."""
    assert get(server, "/health", {**bearer(), "Host": "gpu-box:8766"})[0] == 200


def test_a_websocket_needs_the_token_and_a_foreign_page_is_still_refused(
    server: LiveServerThread,
) -> None:
    status, sock = raw_handshake(server.port, {"Host": f"{HOST}:{server.port}"}, host=HOST)
    sock.close()
    assert status == 401
    status, sock = raw_handshake(
        server.port,
        {"Host": f"{HOST}:{server.port}", "Origin": "http://evil.example"},
        host=HOST,
        path=f"/ws?token={TOKEN}",
    )
    sock.close()
    assert status == 403
    with connect(f"ws://{HOST}:{server.port}/ws?token={TOKEN}") as ws:
        hello = receive(ws)
    assert hello["type"] == "hello" and hello["protocol_version"] == PROTOCOL_VERSION
    with connect(f"ws://{HOST}:{server.port}/ws", additional_headers=bearer()) as ws:
        assert receive(ws)["type"] == "hello"

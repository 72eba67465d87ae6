"""What a hostile web page can do through the user's browser: nothing.

Pages from other origins (and the opaque origin "null") cannot open the live WebSocket, a
DNS-rebinding page (a foreign Host header) gets no answer at all, and the API docs are off
unless the config asks for them. Scripts, which send no Origin, still connect.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect
from websockets.typing import Origin

from tests.support.live import get, live_server, raw_handshake, receive, tiny_trainer
from townlet.config import ConfigError, config_from_dict, config_to_dict
from townlet.learner.trainer import DQNTrainer
from townlet.live.server_thread import LiveServerThread


@pytest.fixture
def trainer(tmp_path: Path) -> DQNTrainer:
    return tiny_trainer(tmp_path, allowed_origins=["https://viewer.example:8443"])


@pytest.fixture
def server(trainer: DQNTrainer) -> Iterator[LiveServerThread]:
    with live_server(trainer, page_origins=["http://127.0.0.1:5173", "http://localhost:5173"]) as s:
        yield s


def refused_status(server: LiveServerThread, origin: str) -> int:
    with pytest.raises(InvalidStatus) as refused:
        connect(f"ws://127.0.0.1:{server.port}/ws", origin=Origin(origin))
    return refused.value.response.status_code


@pytest.mark.parametrize(
    "origin", ["http://evil.example", "null", "http://127.0.0.1:5174", "https://localhost:5173"]
)
def test_a_websocket_from_a_foreign_page_is_refused(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture, origin: str
) -> None:
    assert refused_status(server, origin) == 403
    assert refused_status(server, origin) == 403
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    # One line the first time (no traceback), nothing louder than DEBUG for the repeat.
    assert len(warnings) == 1 and not warnings[0].exc_info
    assert repr(origin) in warnings[0].getMessage()
    assert get(server, "/health")[1]["clients"] == 0


@pytest.mark.parametrize(
    "origin",
    [
        "http://127.0.0.1:5173",  # the page, as Vite serves it
        "http://localhost:5173",
        "HTTP://LOCALHOST:5173",  # origins compare case-insensitively
        "https://viewer.example:8443",  # from live.allowed_origins
        None,  # not a browser: a script
    ],
)
def test_the_page_and_scripts_may_connect(server: LiveServerThread, origin: str | None) -> None:
    with connect(
        f"ws://127.0.0.1:{server.port}/ws", origin=Origin(origin) if origin else None
    ) as ws:
        assert receive(ws)["type"] == "hello"


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8766", "127.0.0.1.evil.example"])
def test_a_foreign_host_header_is_refused(
    server: LiveServerThread, caplog: pytest.LogCaptureFixture, host: str
) -> None:
    status, body = get(server, "/health", {"Host": host})
    assert (status, body) == (400, "Invalid Host header")
    assert get(server, "/api/status", {"Host": host})[0] == 400
    status, sock = raw_handshake(server.port, {"Host": host, "Origin": "http://localhost:5173"})
    sock.close()
    assert status == 403
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and not warnings[0].exc_info


def test_no_host_header_is_refused(server: LiveServerThread) -> None:
    # HTTP/1.1 requires a Host (uvicorn refuses it first); HTTP/1.0 does not, so we do.
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /health HTTP/1.0\r\n\r\n")
        response = b""
        while chunk := sock.recv(4096):
            response += chunk
    assert response.startswith(b"HTTP/1.1 400") and response.endswith(b"Invalid Host header")


@pytest.mark.parametrize("name", ["127.0.0.1", "localhost", "[::1]", "LocalHost"])
def test_the_names_of_this_machine_are_answered(server: LiveServerThread, name: str) -> None:
    # Vite's proxy (changeOrigin) sends Host 127.0.0.1:<api port>. The port is not compared:
    # an SSH tunnel may forward another local port to this one.
    for host in (f"{name}:{server.port}", f"{name}:9000", name):
        assert get(server, "/health", {"Host": host})[0] == 200
    status, sock = raw_handshake(
        server.port, {"Host": f"{name}:{server.port}", "Origin": "http://127.0.0.1:5173"}
    )
    sock.close()
    assert status == 101


@pytest.mark.parametrize("path", ["/docs", "/redoc", "/openapi.json"])
def test_api_docs_are_off_by_default(server: LiveServerThread, path: str) -> None:
    assert get(server, path)[0] == 404


def test_api_docs_are_served_when_the_config_asks(tmp_path: Path) -> None:
    with live_server(tiny_trainer(tmp_path, api_docs=True)) as server:
        for path in ("/docs", "/redoc"):
            assert get(server, path)[0] == 200
        status, schema = get(server, "/openapi.json")
        assert status == 200 and "/health" in schema["paths"]


@pytest.mark.parametrize(
    "origin", ["null", "http://localhost:5173/", "localhost:5173", "ftp://x", "http://x:99999"]
)
def test_allowed_origins_must_be_origins(trainer: DQNTrainer, origin: str) -> None:
    data = config_to_dict(trainer.config)
    data["live"]["allowed_origins"] = ["http://ok.example", origin]
    with pytest.raises(ConfigError) as error:
        config_from_dict(data, source="test.yaml")
    assert "live.allowed_origins[1]" in str(error.value)
    assert "scheme://host[:port]" in str(error.value)

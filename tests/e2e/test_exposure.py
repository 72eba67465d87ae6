"""What another web page can do to a running demo: nothing, directly or through Vite's proxy."""

from __future__ import annotations

import http.client
import json
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.demo_process import VITE, DemoProcess, demo_args, free_port, write_tiny_config

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not VITE.exists(), reason="needs frontend/node_modules (npm ci)"),
]


def status_of(port: int, path: str, host: str | None = None) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("GET", path, headers={"Host": host} if host else {})
        return connection.getresponse().status
    finally:
        connection.close()


def test_hostile_origins_and_hosts_are_refused_through_vite_and_directly(tmp_path: Path) -> None:
    api_port, frontend_port = free_port(), free_port()
    demo = DemoProcess(
        demo_args(write_tiny_config(tmp_path), tmp_path / "runs", api_port, frontend_port)
    )
    try:
        demo.wait_for_line(r"ready in", timeout=120)
        page = f"http://127.0.0.1:{frontend_port}"
        for url in (f"ws://127.0.0.1:{frontend_port}/ws", f"ws://127.0.0.1:{api_port}/ws"):
            for origin in ("http://evil.example", "null"):
                with pytest.raises(InvalidStatus) as refused:
                    connect(url, origin=origin, open_timeout=10)  # type: ignore[arg-type]
                assert refused.value.response.status_code == 403, (url, origin)
            # The page's own origin works, through Vite and directly.
            with connect(url, origin=page, open_timeout=10) as ws:  # type: ignore[arg-type]
                assert json.loads(ws.recv(timeout=10))["type"] == "hello"

        # DNS rebinding: a request naming another host is refused; the API docs are off.
        assert status_of(api_port, "/health", host=f"evil.example:{api_port}") in (400, 403)
        assert status_of(api_port, "/health") == 200
        for path in ("/docs", "/redoc", "/openapi.json"):
            assert status_of(api_port, path) == 404, path

        demo.interrupt()
        assert demo.process.wait(timeout=30) == 0
        demo.drain()
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()
    assert "Traceback" not in demo.log()

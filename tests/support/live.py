"""A real live server on a real socket, and the clients the live tests talk to it with."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import torch
from websockets.sync.client import ClientConnection

from tests.support.tiny import tiny_config
from townlet.learner.trainer import DQNTrainer
from townlet.live.app import create_app
from townlet.live.server_thread import LiveServerThread, bind_socket
from townlet.live.session import LiveSession

PAGE_ORIGINS = ("http://127.0.0.1:5173", "http://localhost:5173")


def tiny_trainer(directory: Path, **live: object) -> DQNTrainer:
    """The tiny level 1 learner with one checkpoint on disk, playing live at 60 steps/s."""
    config = tiny_config()
    config = config.model_copy(
        update={
            "world": config.world.model_copy(update={"step_cap": 25}),
            "live": config.live.model_copy(
                update={"steps_per_second": 60.0, "poll_seconds": 0.05, **live}
            ),
        }
    )
    trainer = DQNTrainer(config, torch.device("cpu"), directory / "checkpoints")
    trainer.save()
    return trainer


@contextmanager
def live_server(
    trainer: DQNTrainer,
    page_origins: Sequence[str] = PAGE_ORIGINS,
    *,
    run_dir: Path | None = None,
    controls: bool = False,
    token: str | None = None,
    host: str = "127.0.0.1",
    own_catalog: bool = False,
) -> Iterator[LiveServerThread]:
    """``controls``: the server may pause and resume ``trainer`` (as in run_demo.py).
    ``own_catalog``: the server keeps its own catalog and learns of files only by reading
    them, as in run_demo.py, where it is another process; by default it shares the trainer's."""
    app = create_app(
        trainer.config,
        trainer.checkpoint_dir,
        trainer.progress,
        page_origins=page_origins,
        catalog=None if own_catalog else trainer.catalog,
        run_dir=run_dir,
        training_control=trainer if controls else None,
        token=token,
    )
    thread = LiveServerThread(app, bind_socket(host, 0))
    thread.start()
    try:
        yield thread
    finally:
        assert thread.stop(), "the server thread should end"


def session_of(server: LiveServerThread) -> LiveSession:
    return server.app.state.session


def receive(ws: ClientConnection) -> dict[str, Any]:
    return json.loads(ws.recv(timeout=10))


def receive_until(ws: ClientConnection, kind: str, limit: int = 500) -> dict[str, Any]:
    for _ in range(limit):
        message = receive(ws)
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message in {limit} messages")


def get(
    server: LiveServerThread, path: str, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """(status, decoded JSON or text) of a GET, without raising on 4xx/5xx."""
    request = urllib.request.Request(
        f"http://{server.host}:{server.port}{path}", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode()


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> float:
    """Poll until ``condition()`` holds; the seconds it took. Fails after ``timeout``."""
    start = time.monotonic()
    while not condition():
        if time.monotonic() - start > timeout:
            raise AssertionError(f"{what}: not within {timeout:g} s")
        time.sleep(0.02)
    return time.monotonic() - start


def raw_handshake(
    port: int,
    headers: dict[str, str],
    receive_buffer: int | None = None,
    host: str = "127.0.0.1",
    path: str = "/ws",
) -> tuple[int, socket.socket]:
    """Open /ws by hand: (HTTP status, socket). Nothing after the response head is read."""
    sock = socket.socket()
    if receive_buffer is not None:  # set before connecting: it sizes the TCP window
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    sock.settimeout(10)
    sock.connect((host, port))
    lines = [
        f"GET {path} HTTP/1.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
    ]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        byte = sock.recv(1)  # one at a time: the frames that follow stay unread
        if not byte:
            break
        head += byte
    return int(head.split(b" ", 2)[1]), sock


def post(
    server: LiveServerThread, path: str, body: object = None, headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    """(status, decoded JSON or text) of a POST with a JSON body, without raising on 4xx."""
    data = b"" if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"http://{server.host}:{server.port}{path}", data=data, method="POST", headers=headers or {}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, raw = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, raw = error.code, error.read()
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode()

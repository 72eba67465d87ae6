"""uvicorn in a background thread, on a socket we bind ourselves.

Binding here (not inside uvicorn) turns a busy port into a clear error on the main thread;
inside uvicorn a bind failure only ends its thread quietly.
"""

from __future__ import annotations

import errno
import socket
import threading

import uvicorn
from fastapi import FastAPI


class PortInUseError(RuntimeError):
    pass


def bind_socket(host: str, port: int, flag: str = "--port") -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {host} is already in use (another Townlet still running?): "
                f"stop that program or pick another with {flag}"
            ) from None
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class LiveServerThread:
    """Serves ``app`` on an already bound socket (see ``bind_socket``)."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.socket = sock
        self.host, self.port = sock.getsockname()[:2]
        config = uvicorn.Config(
            app,
            log_level="warning",
            lifespan="on",
            timeout_graceful_shutdown=3,
            ws_ping_interval=None,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="live-server", daemon=False)
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except BaseException as error:  # reported to the orchestrator, never swallowed
            self.error = error

    def start(self, timeout: float = 20.0) -> None:
        self.thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self.server.started:
            if not self.thread.is_alive():
                raise RuntimeError(f"live server failed to start: {self.error!r}")
            if waited >= timeout:
                raise RuntimeError(f"live server did not start within {timeout:.0f} s")
            deadline.wait(0.05)
            waited += 0.05

    def stop(self, timeout: float = 8.0) -> bool:
        """Ask uvicorn to exit, escalate to force_exit; True when the thread has ended."""
        self.server.should_exit = True
        self.thread.join(timeout)
        if self.thread.is_alive():
            self.server.force_exit = True
            self.thread.join(2.0)
        self.socket.close()
        return not self.thread.is_alive()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()

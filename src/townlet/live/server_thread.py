"""uvicorn in a background thread, on a socket we bind ourselves.

Binding here (not inside uvicorn) turns a busy port into a clear error on the main thread;
inside uvicorn a bind failure only ends its thread quietly. This is the one module that knows
the app is served by uvicorn.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import socket
import threading

import uvicorn
from fastapi import FastAPI
from starlette.types import ASGIApp, Receive, Scope, Send

from townlet.live.client_messages import MAX_MESSAGE_BYTES
from townlet.live.hub import ABORT_SCOPE_KEY, FRAME_WRITER_SCOPE_KEY, STALL_SECONDS

# Small kernel send buffers (accepted sockets inherit the listener's): what a viewer that
# stopped reading can hold stays small, and our sends to it block (the hub's own lag clock)
# after about a second of live play instead of minutes of autotuned buffer. Linux doubles it.
SEND_BUFFER_BYTES = 16 * 1024


class BindError(RuntimeError):
    """The address or port cannot be served on; the message says what to do."""


class PortInUseError(BindError):
    pass


def bind_socket(host: str, port: int, flag: str = "--port") -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP named, not left 0: asyncio turns Nagle off (TCP_NODELAY) only on connections
    # whose socket says TCP. Without it a keep-alive client waited 40 ms for every answer
    # (headers and body are two writes; the second waited for a delayed ACK).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
    try:
        sock.bind((host, port))
    except socket.gaierror as error:
        sock.close()
        raise BindError(
            f"cannot serve on {host}: {error.strerror}; pass --host an address or name of "
            "this machine"
        ) from None
    except OSError as error:
        sock.close()
        if error.errno == errno.EADDRINUSE:
            raise PortInUseError(
                f"port {port} on {host} is already in use (another Townlet still running?): "
                f"stop that program or pick another with {flag}"
            ) from None
        if error.errno in (errno.EADDRNOTAVAIL, errno.EAFNOSUPPORT, errno.EACCES):
            raise BindError(
                f"cannot serve on {host}:{port} ({error.strerror}): pass --host an address "
                "of this machine (0.0.0.0 for all of them) and a port you may use"
            ) from None
        raise
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


class _QuietClientErrors(logging.Filter):
    """uvicorn logs a client's invalid UTF-8 text frame as an ERROR with a traceback, though
    it is client input and uvicorn already answers it (close 1007): keep it to a DEBUG line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not record.getMessage().startswith("Invalid UTF-8 sequence received from client"):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        record.exc_info, record.exc_text = None, None
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def _quiet_client_errors() -> None:
    logger = logging.getLogger("uvicorn.error")
    if not any(isinstance(existing, _QuietClientErrors) for existing in logger.filters):
        logger.addFilter(_QuietClientErrors())


class _UvicornFrameWriter:
    """The hub's FrameWriter for one uvicorn (websockets sans-I/O) connection.

    Writing a complete frame to the transport is exactly what the protocol's own send does
    after encoding, minus the await, the ASGI message and the per-connection encoding; it is
    valid while the connection is open and negotiated no extension (we turn compression off).
    """

    def __init__(self, protocol: object, transport: asyncio.Transport) -> None:
        self.protocol = protocol
        self.transport = transport

    def _connection(self) -> object | None:
        return getattr(self.protocol, "conn", None)

    def usable(self) -> bool:
        connection = self._connection()
        return connection is not None and not getattr(connection, "extensions", True)

    def write(self, frame: bytes) -> bool:
        connection = self._connection()
        if (
            getattr(self.protocol, "disconnected", True)
            or getattr(self.protocol, "close_sent", True)
            or getattr(getattr(connection, "state", None), "name", None) != "OPEN"
            or self.transport.is_closing()
        ):
            return False
        self.transport.write(frame)
        return True

    def buffered_bytes(self) -> int:
        return self.transport.get_write_buffer_size()


class _ExposeConnection:
    """Puts the connection's ``transport.abort`` and a frame writer in each WebSocket scope.

    ASGI can only close a socket politely, and a close frame waits behind the unread data of a
    viewer that stopped reading; aborting frees it at once. The frame writer lets the hub send
    one encoded frame to every viewer without a task per viewer (hub.py). uvicorn's ``send``
    is a method of the connection's protocol object, which holds the transport; without one,
    no key is set and the hub falls back to ASGI sends and a polite close.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "websocket":
            protocol = getattr(send, "__self__", None)
            transport = getattr(protocol, "transport", None)
            if isinstance(transport, asyncio.Transport):
                scope = {
                    **scope,
                    ABORT_SCOPE_KEY: transport.abort,
                    FRAME_WRITER_SCOPE_KEY: _UvicornFrameWriter(protocol, transport),
                }
        await self.app(scope, receive, send)


class LiveServerThread:
    """Serves ``app`` on an already bound socket (see ``bind_socket``)."""

    def __init__(self, app: FastAPI, sock: socket.socket) -> None:
        self.app = app
        self.socket = sock
        _quiet_client_errors()
        self.host, self.port = sock.getsockname()[:2]
        config = uvicorn.Config(
            _ExposeConnection(app),
            log_level="warning",
            # Our own console handler (console_log.py) prints uvicorn's lines as [Inference].
            log_config=None,
            lifespan="on",
            timeout_graceful_shutdown=3,
            # A ping waits behind everything already sent, so its pong measures how far
            # behind a viewer reads, whatever the buffers hold: no pong within STALL_SECONDS
            # and uvicorn fails the connection; the hub then drops that viewer.
            ws_ping_interval=1.0,
            ws_ping_timeout=STALL_SECONDS,
            # Compression is per viewer (each has its own zlib stream): at 50 viewers it cost
            # about a tenth of a core for ~450-byte messages on a loopback link.
            ws_per_message_deflate=False,
            # Frames far beyond any client message are refused by the protocol layer (close
            # 1009) before they are buffered; smaller oversized ones get an error reply.
            ws_max_size=16 * MAX_MESSAGE_BYTES,
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self._serve, name="live-server", daemon=False)
        self.error: BaseException | None = None

    def _serve(self) -> None:
        try:
            self.server.run(sockets=[self.socket])
        except BaseException as error:  # reported to the orchestrator, never swallowed
            self.error = error

    def start(self, timeout: float = 20.0, abort: threading.Event | None = None) -> None:
        self.thread.start()
        deadline = threading.Event()
        waited = 0.0
        while not self.server.started:
            if abort is not None and abort.is_set():
                return
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

    def set_tensorboard_url(self, url: str | None) -> None:
        """Where TensorBoard serves, for the page's link (pages connecting from now on)."""
        self.app.state.tensorboard_url = url  # for the sessions of a sweep's next trials
        session = getattr(self.app.state, "session", None)
        if session is not None:
            session.tensorboard_url = url

    @property
    def fatal_error(self) -> str | None:
        """Why live play gave up after repeated crashes (stop the run), else None."""
        session = getattr(self.app.state, "session", None)
        error = getattr(session, "fatal_error", None)
        return error if isinstance(error, str) else None

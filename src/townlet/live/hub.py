"""Fan-out of live messages to every connected viewer.

The play loop never waits for a client. Where the server offers a frame writer for a
connection (server_thread.py does, for uvicorn), ``broadcast`` encodes each message into one
WebSocket frame and hands those same bytes to every viewer's socket at once: no task, no
await, no per-viewer encoding. At 50 viewers and 60 messages/s that is what keeps the live
server's share of the GIL small enough not to slow training. Elsewhere (test clients, other
servers) each viewer has a queue that its own sender task writes out through ASGI.

A viewer is dropped as soon as it falls STALL_SECONDS behind (data for it has waited that
long in a buffer: it stopped reading, or reads slower than play) or its connection fails
(which is also how a missed ping surfaces: server_thread.py has uvicorn ping every viewer).
Dropping is synchronous (the viewer leaves the dict at once); the connection is then cut, not
closed politely, because a close frame would queue behind the very data the viewer is not
reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any, Protocol

from starlette.websockets import WebSocket
from websockets.frames import Frame, Opcode

log = logging.getLogger("townlet.inference")

STALL_SECONDS = 2.0
QUEUE_LIMIT = 1024  # a memory bound for bursts; at 60 steps/s the clock trips long before
# The server puts a callable here that drops the connection at once (see server_thread.py);
# ASGI itself can only close politely.
ABORT_SCOPE_KEY = "townlet.abort"
# ... and here an object that writes ready-made frames straight to the connection.
FRAME_WRITER_SCOPE_KEY = "townlet.frame_writer"
BUFFER_LIMIT_BYTES = 8 * 1024 * 1024  # a memory bound, as QUEUE_LIMIT is for queues


class FrameWriter(Protocol):
    """A connection that takes whole, already encoded server frames."""

    def usable(self) -> bool:
        """True when frames encoded by ``encode_text_frame`` are valid on this connection
        (checked once, after the handshake: an extension such as compression rules it out)."""
        ...

    def write(self, frame: bytes) -> bool:
        """Send ``frame`` without waiting; False when the connection no longer takes data."""
        ...

    def buffered_bytes(self) -> int:
        """Bytes written but not yet accepted by the kernel (the client is not reading)."""
        ...


def encode_text_frame(text: str) -> bytes:
    """One unmasked, uncompressed text frame: the same bytes are valid for every viewer."""
    return Frame(Opcode.TEXT, text.encode()).serialize(mask=False)


class _Message:
    """A message and, once a direct viewer needed it, its frame (encoded at most once)."""

    __slots__ = ("frame", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self.frame: bytes | None = None

    def encoded(self) -> bytes:
        if self.frame is None:
            self.frame = encode_text_frame(self.text)
        return self.frame


class _DirectViewer:
    """A viewer whose frames go straight to its socket (see the module docstring)."""

    def __init__(self, websocket: WebSocket, writer: FrameWriter) -> None:
        self.websocket = websocket
        self.writer = writer
        # Since when data for this viewer has waited in the user-space buffer; None while
        # the kernel takes everything we write, i.e. while the viewer keeps up.
        self.behind_since: float | None = None
        self.failed = False

    def offer(self, message: _Message, now: float) -> bool:
        """Send one message; False when this viewer has fallen too far behind to keep."""
        buffered = self.writer.buffered_bytes()
        if buffered == 0:
            self.behind_since = None
        elif self.behind_since is None:
            self.behind_since = now
        elif now - self.behind_since > STALL_SECONDS or buffered > BUFFER_LIMIT_BYTES:
            return False
        if not self.writer.write(message.encoded()):
            self.failed = True
            return False
        return True

    def lag(self, now: float) -> float:
        return now - self.behind_since if self.behind_since is not None else 0.0

    def stop(self) -> None:
        pass


class _QueuedViewer:
    """A viewer served through ASGI by a sender task of its own."""

    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        # (time queued, text); the head stays queued while it is being sent, so its age is
        # exactly how far behind this viewer is.
        self.queue: deque[tuple[float, str]] = deque()
        self.wake = asyncio.Event()
        self.sender = asyncio.create_task(self._send_loop(), name="live-viewer-sender")

    @property
    def failed(self) -> bool:
        return self.sender.done()  # its last send failed: the client has gone

    def offer(self, message: _Message, now: float) -> bool:
        """Queue one message; False when this viewer has fallen too far behind to keep."""
        text = message.text
        queue = self.queue
        if queue and (now - queue[0][0] > STALL_SECONDS or len(queue) >= QUEUE_LIMIT):
            return False
        if self.failed:
            return False
        queue.append((now, text))
        self.wake.set()
        return True

    def lag(self, now: float) -> float:
        return now - self.queue[0][0] if self.queue else 0.0

    def stop(self) -> None:
        self.sender.cancel()

    async def _send_loop(self) -> None:
        queue, wake, send = self.queue, self.wake, self.websocket.send_text
        with contextlib.suppress(Exception):  # a failed send is a disconnect, whatever it says
            while True:
                if not queue:
                    wake.clear()
                    await wake.wait()
                    continue
                await send(queue[0][1])
                queue.popleft()


_Viewer = _DirectViewer | _QueuedViewer


def _new_viewer(websocket: WebSocket) -> _Viewer:
    writer = websocket.scope.get(FRAME_WRITER_SCOPE_KEY)
    if writer is not None and writer.usable():
        return _DirectViewer(websocket, writer)
    return _QueuedViewer(websocket)


class Hub:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._viewers: dict[WebSocket, _Viewer] = {}
        self._clock = clock
        self._background: set[asyncio.Task[None]] = set()
        # Counters for GET /metrics: messages handed to viewers, messages a dropped viewer
        # never got (the one that found it behind, and what was still queued), viewers dropped.
        self.messages_sent = 0
        self.messages_dropped = 0
        self.viewers_dropped = 0

    def __len__(self) -> int:
        return len(self._viewers)

    def add(self, websocket: WebSocket, greeting: Iterable[str]) -> None:
        now = self._clock()
        viewer = _new_viewer(websocket)
        for text in greeting:
            self.messages_sent += viewer.offer(_Message(text), now)
        self._viewers[websocket] = viewer

    def send_to(self, websocket: WebSocket, text: str) -> None:
        """One message for one viewer only (a reply), in order with the broadcasts."""
        viewer = self._viewers.get(websocket)
        if viewer is not None:
            now = self._clock()
            if viewer.offer(_Message(text), now):
                self.messages_sent += 1
            else:
                self._drop(viewer, now)

    async def broadcast(self, text: str) -> None:
        """Queue ``text`` for every viewer and drop the ones that fell behind.

        Never suspends: it is a coroutine only so that callers written for a waiting
        broadcast keep working.
        """
        now = self._clock()
        message = _Message(text)
        behind = [viewer for viewer in self._viewers.values() if not viewer.offer(message, now)]
        self.messages_sent += len(self._viewers) - len(behind)
        for viewer in behind:
            self._drop(viewer, now)

    def remove(self, websocket: WebSocket) -> None:
        """The client has gone (its socket handler ended): forget it, stop its sender."""
        viewer = self._viewers.pop(websocket, None)
        if viewer is not None:
            viewer.stop()

    async def close_all(self, timeout: float = 1.0, code: int = 1001, reason: str = "") -> None:
        """Close every socket politely, cutting the ones that do not finish in time: on
        shutdown (1001, going away), or with ``code`` when the viewers should reconnect at once
        (FOLLOW_CLOSE_CODE: the live view now plays another trial of the sweep)."""
        viewers = list(self._viewers.values())
        self._viewers.clear()
        closing = [self._spawn(self._close(viewer, timeout, code, reason)) for viewer in viewers]
        pending = [*closing, *self._background]
        if pending:
            await asyncio.wait(pending, timeout=timeout + 0.5)

    # ------------------------------------------------------------ internals
    def _drop(self, viewer: _Viewer, now: float) -> None:
        if self._viewers.pop(viewer.websocket, None) is None:
            return
        self.viewers_dropped += 1
        self.messages_dropped += 1 + (len(viewer.queue) if isinstance(viewer, _QueuedViewer) else 0)
        if viewer.failed:  # the send failed: gone, or no pong in time (server_thread)
            log.info("dropping a viewer whose connection failed or stopped answering pings")
        else:
            log.info("dropping a viewer that fell %.1f s behind (not reading)", viewer.lag(now))
        viewer.stop()
        abort = viewer.websocket.scope.get(ABORT_SCOPE_KEY)
        if callable(abort):
            abort()
        else:  # not served by our thread: the best ASGI offers, in the background
            self._spawn(self._close(viewer, timeout=1.0))

    async def _close(
        self, viewer: _Viewer, timeout: float, code: int = 1001, reason: str = ""
    ) -> None:
        viewer.stop()
        try:
            await asyncio.wait_for(viewer.websocket.close(code=code, reason=reason), timeout)
        except Exception:  # already closed, or stuck behind unread data
            abort = viewer.websocket.scope.get(ABORT_SCOPE_KEY)
            if callable(abort):
                abort()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

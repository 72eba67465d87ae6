"""Fan-out of live messages to every connected viewer.

The play loop never waits for a client: ``broadcast`` only appends the (already serialised)
message to each viewer's queue, and each viewer's own sender task writes it out. A viewer is
dropped as soon as it falls STALL_SECONDS behind (the oldest message in its queue has waited
that long: it stopped reading, or reads slower than play) or its send fails (which is also
how a missed ping surfaces: server_thread.py has uvicorn ping every viewer). Dropping is
synchronous (the viewer leaves the dict at once); the connection is then cut, not closed
politely, because a close frame would queue behind the very data the viewer is not reading.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Iterable
from typing import Any

from starlette.websockets import WebSocket

log = logging.getLogger("townlet.inference")

STALL_SECONDS = 2.0
QUEUE_LIMIT = 1024  # a memory bound for bursts; at 60 steps/s the clock trips long before
# The server puts a callable here that drops the connection at once (see server_thread.py);
# ASGI itself can only close politely.
ABORT_SCOPE_KEY = "townlet.abort"


class _Viewer:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        # (time queued, text); the head stays queued while it is being sent, so its age is
        # exactly how far behind this viewer is.
        self.queue: deque[tuple[float, str]] = deque()
        self.wake = asyncio.Event()
        self.sender = asyncio.create_task(self._send_loop(), name="live-viewer-sender")

    def offer(self, text: str, now: float) -> bool:
        """Queue one message; False when this viewer has fallen too far behind to keep."""
        queue = self.queue
        if queue and (now - queue[0][0] > STALL_SECONDS or len(queue) >= QUEUE_LIMIT):
            return False
        if self.sender.done():  # its last send failed: the client has gone
            return False
        queue.append((now, text))
        self.wake.set()
        return True

    def lag(self, now: float) -> float:
        return now - self.queue[0][0] if self.queue else 0.0

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


class Hub:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._viewers: dict[WebSocket, _Viewer] = {}
        self._clock = clock
        self._background: set[asyncio.Task[None]] = set()

    def __len__(self) -> int:
        return len(self._viewers)

    def add(self, websocket: WebSocket, greeting: Iterable[str]) -> None:
        now = self._clock()
        viewer = _Viewer(websocket)
        for text in greeting:
            viewer.offer(text, now)
        self._viewers[websocket] = viewer

    def send_to(self, websocket: WebSocket, text: str) -> None:
        """One message for one viewer only (a reply), in order with the broadcasts."""
        viewer = self._viewers.get(websocket)
        if viewer is not None:
            now = self._clock()
            if not viewer.offer(text, now):
                self._drop(viewer, now)

    async def broadcast(self, text: str) -> None:
        """Queue ``text`` for every viewer and drop the ones that fell behind.

        Never suspends: it is a coroutine only so that callers written for a waiting
        broadcast keep working.
        """
        now = self._clock()
        behind = [viewer for viewer in self._viewers.values() if not viewer.offer(text, now)]
        for viewer in behind:
            self._drop(viewer, now)

    def remove(self, websocket: WebSocket) -> None:
        """The client has gone (its socket handler ended): forget it, stop its sender."""
        viewer = self._viewers.pop(websocket, None)
        if viewer is not None:
            viewer.sender.cancel()

    async def close_all(self, timeout: float = 1.0) -> None:
        """Shutdown: close every socket politely, cutting the ones that do not finish in time."""
        viewers = list(self._viewers.values())
        self._viewers.clear()
        closing = [self._spawn(self._close(viewer, timeout)) for viewer in viewers]
        pending = [*closing, *self._background]
        if pending:
            await asyncio.wait(pending, timeout=timeout + 0.5)

    # ------------------------------------------------------------ internals
    def _drop(self, viewer: _Viewer, now: float) -> None:
        if self._viewers.pop(viewer.websocket, None) is None:
            return
        if viewer.sender.done():  # the send failed: gone, or no pong in time (server_thread)
            log.info("dropping a viewer whose connection failed or stopped answering pings")
        else:
            log.info("dropping a viewer that fell %.1f s behind (not reading)", viewer.lag(now))
        viewer.sender.cancel()
        abort = viewer.websocket.scope.get(ABORT_SCOPE_KEY)
        if callable(abort):
            abort()
        else:  # not served by our thread: the best ASGI offers, in the background
            self._spawn(self._close(viewer, timeout=1.0))

    async def _close(self, viewer: _Viewer, timeout: float) -> None:
        viewer.sender.cancel()
        try:
            await asyncio.wait_for(viewer.websocket.close(code=1001), timeout)
        except Exception:  # already closed, or stuck behind unread data
            abort = viewer.websocket.scope.get(ABORT_SCOPE_KEY)
            if callable(abort):
                abort()

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

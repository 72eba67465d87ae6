"""Fan-out of live messages to every connected WebSocket.

Each client gets a bounded queue drained by its own sender task, so one slow browser tab
cannot stall live play for the others; a client that falls too far behind, or whose send
fails, is treated as disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from starlette.websockets import WebSocket

log = logging.getLogger("townlet.inference")

_QUEUE_LIMIT = 256


class _Client:
    def __init__(self, websocket: WebSocket) -> None:
        self.websocket = websocket
        self.queue: asyncio.Queue[str | None] = asyncio.Queue(maxsize=_QUEUE_LIMIT)
        self.sender = asyncio.create_task(self._send_loop())

    async def _send_loop(self) -> None:
        try:
            while (text := await self.queue.get()) is not None:
                await self.websocket.send_text(text)
        except Exception:  # a failed send is a disconnect, whatever the transport says
            pass
        with contextlib.suppress(Exception):
            await self.websocket.close()

    def offer(self, text: str) -> bool:
        try:
            self.queue.put_nowait(text)
            return True
        except asyncio.QueueFull:
            return False

    async def close(self) -> None:
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait(None)
        try:
            await asyncio.wait_for(self.sender, timeout=1.0)
        except (TimeoutError, asyncio.CancelledError):
            self.sender.cancel()


class Hub:
    def __init__(self) -> None:
        self._clients: dict[WebSocket, _Client] = {}

    def __len__(self) -> int:
        return len(self._clients)

    def add(self, websocket: WebSocket, greeting: list[str]) -> None:
        client = _Client(websocket)
        for text in greeting:
            client.offer(text)
        self._clients[websocket] = client

    async def remove(self, websocket: WebSocket) -> None:
        client = self._clients.pop(websocket, None)
        if client is not None:
            await client.close()

    async def broadcast(self, text: str) -> None:
        for websocket, client in list(self._clients.items()):
            if client.sender.done() or not client.offer(text):
                log.info("dropping a client that stopped reading")
                await self.remove(websocket)

    async def close_all(self) -> None:
        for websocket in list(self._clients):
            await self.remove(websocket)

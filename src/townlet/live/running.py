"""A live session and the tasks that keep it going, started and stopped as one.

A single run's server has one for its whole life (app.py's lifespan). A sweep's server has one
per trial it follows in turn (sweep_view.py): the one it leaves is stopped and its viewers are
told to reconnect, which greets them with the next one.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from townlet.live.session import LiveSession
from townlet.monitoring.monitor import Monitor

log = logging.getLogger("townlet.inference")

MONITOR_RESTART_SECONDS = 10.0


class RunningSession:
    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Live play and, when on, monitoring: each a task on this event loop."""
        self._tasks = [asyncio.create_task(self.session.play_until_fatal(), name="live-play")]
        if self.session.monitor is not None:
            self._tasks.append(
                asyncio.create_task(monitor_forever(self.session.monitor), name="monitor")
            )

    async def stop(self, code: int = 1001, reason: str = "") -> None:
        """End the tasks, then close the viewers' sockets with ``code``."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
        await self.session.close(code, reason)


async def monitor_forever(monitor: Monitor) -> None:
    """Monitoring is a convenience: if it crashes, say why, restart it a little later, and
    never let it take live play down."""
    while True:
        try:
            await monitor.run()
        except Exception:
            log.exception(
                "monitoring failed; restarting it in %.0f s (live play goes on)",
                MONITOR_RESTART_SECONDS,
            )
        await asyncio.sleep(MONITOR_RESTART_SECONDS)

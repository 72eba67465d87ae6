"""When to restart a crashed loop, and when to stop trying.

A crash is our bug, not the user's: restarting keeps the page alive through a one-off fault,
but a loop that keeps crashing would only spin and fill the log, so after ``max_crashes``
within ``window_seconds`` the caller gives up and reports a fatal error.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable


class RestartPolicy:
    """Pauses of 0.5 s, 1 s, 2 s ... between restarts; None once the crashes come too fast."""

    def __init__(
        self,
        max_crashes: int = 3,
        window_seconds: float = 60.0,
        first_delay: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_crashes = max_crashes
        self.window_seconds = window_seconds
        self.first_delay = first_delay
        self._clock = clock
        self._crashes: deque[float] = deque()

    def after_crash(self) -> float | None:
        """Record a crash; the pause before restarting, or None to give up."""
        now = self._clock()
        self._crashes.append(now)
        while now - self._crashes[0] > self.window_seconds:
            self._crashes.popleft()
        recent = len(self._crashes)
        if recent >= self.max_crashes:
            return None
        return self.first_delay * 2 ** (recent - 1)

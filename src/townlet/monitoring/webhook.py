"""POSTs alert changes as JSON to a webhook URL, from a thread of its own.

Nothing that plays or trains ever waits for the receiver: ``send`` only queues. The thread
retries a failed POST with exponential backoff (1 s, 2 s, 4 s, ... up to 30 s between tries,
``ATTEMPTS`` tries in all), then gives up on that message with one warning. Stopping sets an
Event that every wait watches, so shutdown never waits out a backoff.
"""

from __future__ import annotations

import json
import logging
import threading
import urllib.error
import urllib.request
from collections import deque
from typing import Any

log = logging.getLogger("townlet.inference")

ATTEMPTS = 6
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
POST_TIMEOUT_SECONDS = 5.0
QUEUE_LIMIT = 256  # a receiver down for hours must not hold every alert in memory


class WebhookSender:
    def __init__(self, url: str, backoff_seconds: float = FIRST_BACKOFF_SECONDS) -> None:
        self.url = url
        self.backoff_seconds = backoff_seconds
        self.delivered = 0
        self.failed = 0
        self._queue: deque[dict[str, Any]] = deque(maxlen=QUEUE_LIMIT)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alert-webhook")

    def __enter__(self) -> WebhookSender:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()

    def send(self, payload: dict[str, Any]) -> None:
        """Queue one message (never blocks); the oldest goes when the queue is full."""
        self._queue.append(payload)
        self._wake.set()

    def close(self, timeout: float = 2.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            if not self._queue:
                self._wake.wait()
                self._wake.clear()
                continue
            payload = self._queue.popleft()
            if self._deliver(payload):
                self.delivered += 1
            elif not self._stop.is_set():
                self.failed += 1

    def _deliver(self, payload: dict[str, Any]) -> bool:
        body = json.dumps(payload).encode()
        delay = self.backoff_seconds
        for attempt in range(1, ATTEMPTS + 1):
            request = urllib.request.Request(
                self.url, data=body, method="POST", headers={"Content-Type": "application/json"}
            )
            try:
                with urllib.request.urlopen(request, timeout=POST_TIMEOUT_SECONDS) as response:
                    response.read()
                return True
            except urllib.error.HTTPError as error:  # an answer, but not a 2xx
                error.close()  # it holds the connection open until closed
                reason = error
            except (urllib.error.URLError, OSError, ValueError) as error:
                reason = error
            if attempt == ATTEMPTS:
                break
            log.debug("alert webhook %s failed (%s); retrying in %.0f s", self.url, reason, delay)
            if self._stop.wait(delay):
                return False
            delay = min(delay * 2, MAX_BACKOFF_SECONDS)
        log.warning(
            "alert webhook %s: gave up on %s after %d tries (%s)",
            self.url,
            payload.get("name", "an alert"),
            ATTEMPTS,
            reason,
        )
        return False

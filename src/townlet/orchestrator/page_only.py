"""``run_demo.py --trainer-url URL``: only the page, for a trainer on another machine.

Nothing trains here and no live server starts: Vite serves the page and proxies its HTTP and
WebSocket traffic to the trainer, adding the token, so the browser never needs it. The trainer
may be down when we start or go away later; the page's indicator says so and reconnects, and
this process carries on until Ctrl+C. The signal handler only records; the main loop acts.
"""

from __future__ import annotations

import logging
import signal
import threading
import webbrowser
from pathlib import Path
from types import FrameType

from townlet.orchestrator.frontend import (
    NODE_HINT,
    FrontendError,
    FrontendProcess,
    install_dependencies,
    node_available,
)
from townlet.orchestrator.orchestrator import has_graphical_browser
from townlet.orchestrator.settings import ServerSettings
from townlet.orchestrator.trainer_check import check_trainer

log = logging.getLogger("townlet.orchestrator")
frontend_log = logging.getLogger("townlet.frontend")

FRONTEND_STOP_TIMEOUT = 5.0


class PageOnly:
    def __init__(self, settings: ServerSettings, frontend_dir: Path) -> None:
        assert settings.trainer_url is not None
        self.settings = settings
        self.trainer_url = settings.trainer_url
        self.frontend_dir = frontend_dir
        self.stop_requested = threading.Event()
        self.force = threading.Event()
        self.frontend: FrontendProcess | None = None

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        if self.stop_requested.is_set():
            self.force.set()
        self.stop_requested.set()

    def run(self, open_browser: bool) -> int:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            return self._run(open_browser)
        finally:
            if self.frontend is not None:
                self.frontend.stop(1.0 if self.force.is_set() else FRONTEND_STOP_TIMEOUT)
                frontend_log.info("frontend stopped")
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _run(self, open_browser: bool) -> int:
        check = check_trainer(self.trainer_url, self.settings.token)
        if check.ok:
            log.info(
                "trainer at %s answers (protocol %s)", self.trainer_url, check.protocol_version
            )
        else:
            log.warning(
                "trainer at %s: %s (%s); the page shows this and keeps trying",
                self.trainer_url,
                check.error,
                check.detail,
            )
        if not node_available():
            log.error("%s", NODE_HINT)
            return 1
        if not install_dependencies(self.frontend_dir, self.stop_requested):
            return 0 if self.stop_requested.is_set() else 1
        frontend = FrontendProcess(
            self.frontend_dir,
            "127.0.0.1",
            self.settings.frontend_port,
            self.settings.inference_port,
            trainer_url=self.trainer_url,
            token=self.settings.token,
        )
        self.frontend = frontend
        frontend.start()
        try:
            frontend.wait_until_serving(self.stop_requested)
        except FrontendError as error:
            log.error("%s", error)
            return 1
        if self.stop_requested.is_set():
            return 0
        log.info(
            "ready: open %s  (the page of the trainer at %s; Ctrl+C to stop)",
            frontend.url,
            self.trainer_url,
        )
        if open_browser and has_graphical_browser():
            webbrowser.open(frontend.url)
        while not self.stop_requested.wait(0.5):
            if not frontend.alive:
                frontend_log.error("the frontend (Vite) exited; stopping")
                return 1
        log.info("stopping")
        return 0

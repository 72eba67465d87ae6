"""One process, its workers and children, one owner: the main thread.

Start order: training, then the live server (until /health answers), the evaluator process,
the frontend (until it serves the page), TensorBoard when asked for (until it answers), then
the browser. ``shutdown()`` is the one place that stops them, in order: training finishes its
step and saves, the evaluator ends, the server closes its sockets, the frontend's process group
ends, then TensorBoard's. The signal handler only records; the main loop acts on it.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
import urllib.error
import urllib.request
import webbrowser
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType
from typing import Protocol

from townlet.launch import interrupted_while_starting
from townlet.orchestrator.addresses import reachable_addresses
from townlet.orchestrator.evaluator import EvaluatorProcess
from townlet.orchestrator.frontend import (
    NODE_HINT,
    FrontendError,
    FrontendProcess,
    install_dependencies,
    node_available,
)
from townlet.orchestrator.progress import advance_to, progress_bar
from townlet.orchestrator.run_tracker import Ending, RunTracker
from townlet.orchestrator.tensorboard import TensorBoardError, TensorBoardProcess
from townlet.orchestrator.training_worker import TrainingWorker

log = logging.getLogger("townlet.orchestrator")
frontend_log = logging.getLogger("townlet.frontend")
tensorboard_log = logging.getLogger("townlet.tensorboard")

TRAINING_STOP_TIMEOUT = 60.0  # a final save with the replay buffer can take a while
SERVER_STOP_TIMEOUT = 8.0
FRONTEND_STOP_TIMEOUT = 5.0
EVALUATOR_STOP_TIMEOUT = 3.0
FORCED_STOP_TIMEOUT = 1.0  # after a second Ctrl+C: what each part still gets


class LiveServer(Protocol):
    """The live server as the orchestrator drives it: in its own process (run_demo.py,
    live_server_process.py) or in a thread of this one (tests, benchmarks)."""

    host: str
    port: int

    def start(self, timeout: float = ..., abort: threading.Event | None = ...) -> None: ...

    def stop(self, timeout: float = ...) -> bool: ...

    @property
    def alive(self) -> bool: ...

    @property
    def fatal_error(self) -> str | None: ...

    def set_tensorboard_url(self, url: str | None) -> None: ...


@dataclass
class OrchestratorOptions:
    frontend_dir: Path
    frontend_port: int
    open_browser: bool
    start_frontend: bool = True
    host: str = "127.0.0.1"  # TensorBoard's, and the page's unless page_host says otherwise
    # The page on other machines' reach (all-remote): Vite serves there and keeps the token in
    # a cookie the browser gets from the address printed at start (frontend/trainerStatus.ts).
    page_host: str | None = None
    # TensorBoard on this port, over this folder (the runs folder), when asked for.
    tensorboard_port: int | None = None
    tensorboard_logdir: Path | None = None
    token: str | None = None  # the live server's, when in force: health checks and Vite carry it
    health_check_timeout: float = 30.0


class Orchestrator:
    def __init__(
        self,
        training: TrainingWorker,
        server: LiveServer,
        options: OrchestratorOptions,
        evaluator: EvaluatorProcess | None = None,
        tracker: RunTracker | None = None,
    ) -> None:
        self.training = training
        self.server = server
        self.options = options
        self.evaluator = evaluator
        self.tracker = tracker
        self.stop_reason = "Ctrl+C"
        self.frontend: FrontendProcess | None = None
        self.tensorboard: TensorBoardProcess | None = None
        self.stop_requested = threading.Event()
        self.force = threading.Event()
        self.failed = False

    # ------------------------------------------------------------- signals
    def _on_signal(self, signum: int, _frame: FrameType | None) -> None:
        if self.stop_requested.is_set():
            self.force.set()  # a second Ctrl+C: cut every wait short, the one under way too
        else:
            self.stop_reason = "SIGTERM" if signum == signal.SIGTERM else "Ctrl+C"
        self.stop_requested.set()

    @contextmanager
    def _captured_signals(self) -> Iterator[None]:
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    # ----------------------------------------------------------------- run
    def run(self) -> int:
        started = time.monotonic()
        with self._captured_signals():
            if interrupted_while_starting():
                # Ctrl+C while building the parts, swallowed on the way: stop in order now.
                self.stop_requested.set()
            try:
                self._start_all(started)
                self._watch()
            except (FrontendError, RuntimeError) as error:
                log.error("%s", error)
                self.failed = True
            finally:
                if self.stop_requested.is_set():
                    log.info("stopping (press Ctrl+C again to stop without waiting)")
                self.shutdown()
        return 1 if self.failed else 0

    def _start_all(self, started: float) -> None:
        self.training.start()
        self._note_component("training", True)
        self.server.start(abort=self.stop_requested)
        if self.stop_requested.is_set():
            return
        api_url = f"http://{self.server.host}:{self.server.port}"
        _wait_for_health(
            f"http://127.0.0.1:{self.server.port}/health"
            if self.server.host in ("0.0.0.0", "::")
            else f"{api_url}/health",
            self.stop_requested,
            lambda: self.server.fatal_error,
            timeout=self.options.health_check_timeout,
            token=self.options.token,
        )
        log.info(
            "live server ready at %s (WebSocket %s/ws)", api_url, api_url.replace("http", "ws")
        )
        self._note_component("live_server", True, url=api_url)
        if self.evaluator is not None:
            self.evaluator.start()
            self._note_component("evaluator", True, pid=self.evaluator.pid)
        page_url = self._start_frontend()
        if page_url is not None:
            self._note_component("frontend", True, url=page_url)
        if self.stop_requested.is_set():
            return
        self._start_tensorboard()
        if self.stop_requested.is_set():
            return
        ready_in = time.monotonic() - started
        if self.tracker is not None:
            self.tracker.running()
        if page_url is None:
            log.info("ready in %.1f s without the web page; press Ctrl+C to stop", ready_in)
            return
        log.info("ready in %.1f s: open %s  (Ctrl+C to stop)", ready_in, page_url)
        if self.options.page_host is not None and self.options.token is not None:
            self._print_page_addresses(self.options.page_host, self.options.token)
        if self.options.open_browser and has_graphical_browser():
            webbrowser.open(page_url)

    def _start_frontend(self) -> str | None:
        options = self.options
        if not options.start_frontend:
            return None
        if not node_available():
            frontend_log.warning("%s; carrying on without the web page", NODE_HINT)
            return None
        if not install_dependencies(options.frontend_dir, self.stop_requested):
            if not self.stop_requested.is_set():
                frontend_log.warning("carrying on without the web page")
            return None
        self.frontend = FrontendProcess(
            options.frontend_dir,
            options.page_host or options.host,
            options.frontend_port,
            self.server.port,
            trainer_url=self._local_api_url(),
            token=options.token,
            token_in_cookie=options.page_host is not None,
        )
        self.frontend.start()
        self.frontend.wait_until_serving(self.stop_requested)
        return self.frontend.url

    def _print_page_addresses(self, page_host: str, token: str) -> None:
        """Where other machines open the page, token included. Printed, not logged: run.log
        and events.jsonl may be readable by others; the token is a secret."""
        addresses = reachable_addresses(page_host)
        if page_host in ("0.0.0.0", "::"):  # every interface: loopback is not for others
            addresses = [a for a in addresses if not a.address.startswith("127.")] or addresses
        port = self.options.frontend_port
        for address in addresses:
            url = address.describe(port).split(" ")[0]
            sys.stderr.write(f"    open once from another machine: {url}/?token={token}\n")
        sys.stderr.flush()

    def _local_api_url(self) -> str:
        """How a process on this machine reaches our live server (Vite's proxy target)."""
        host = self.server.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1"
        return f"http://{f'[{host}]' if ':' in host else host}:{self.server.port}"

    def _start_tensorboard(self) -> None:
        """TensorBoard is a convenience: if it cannot start, say why and carry on without."""
        options = self.options
        if options.tensorboard_port is None or options.tensorboard_logdir is None:
            return
        tensorboard = TensorBoardProcess(
            options.tensorboard_logdir, options.host, options.tensorboard_port
        )
        try:
            tensorboard.start()
            tensorboard.wait_until_serving(self.stop_requested)
        except TensorBoardError as error:
            tensorboard_log.warning("%s; carrying on without TensorBoard", error)
            tensorboard.stop(FORCED_STOP_TIMEOUT)
            return
        if self.stop_requested.is_set():
            tensorboard.stop(FORCED_STOP_TIMEOUT)
            return
        self.tensorboard = tensorboard
        self.server.set_tensorboard_url(tensorboard.url)
        self._note_component("tensorboard", True, url=tensorboard.url)
        tensorboard_log.info(
            "TensorBoard serving %s at %s", options.tensorboard_logdir, tensorboard.url
        )

    def _watch(self) -> None:
        """Sleep on the stop Event; notice a worker that died on its own."""
        budget = self.training.trainer.config.training.total_episodes
        if budget is None or self.training.trainer.finished():
            self._watch_workers()
            return
        with progress_bar(budget, self.training.progress().episode, "ep", "episodes") as bar:
            self._watch_workers(on_tick=lambda: advance_to(bar, self.training.progress().episode))

    def _watch_workers(self, on_tick: Callable[[], None] = lambda: None) -> None:
        while not self.stop_requested.wait(0.5):
            on_tick()
            if self.tracker is not None and self.tracker.tick(
                self.training.progress(), self.training.newest_checkpoint
            ):
                self.stop_reason = "townlet stop"
                self.stop_requested.set()
                return
            if self.training.error is not None:
                log.error("training failed; shutting down")
                self.failed = True
                return
            if not self.server.alive:
                log.error("the live server stopped unexpectedly; shutting down")
                self.failed = True
                return
            if self.server.fatal_error is not None:
                log.error("live play keeps failing (%s); shutting down", self.server.fatal_error)
                self.failed = True
                return
            if self.frontend is not None and not self.frontend.alive:
                log.warning("the frontend (Vite) exited; live server and training carry on")
                # Its helpers (esbuild, rolldown) may outlive it: end the whole group now.
                self.frontend.stop(FRONTEND_STOP_TIMEOUT)
                self.frontend = None
            if self.tensorboard is not None and not self.tensorboard.alive:
                tensorboard_log.warning("TensorBoard exited; the run carries on without it")
                self.tensorboard.stop(FORCED_STOP_TIMEOUT)
                self.tensorboard = None
                self.server.set_tensorboard_url(None)
            if self.evaluator is not None and not self.evaluator.alive:
                log.warning("the evaluator exited; training and live play carry on")
                self.evaluator.stop(FORCED_STOP_TIMEOUT)
                self.evaluator = None

    # ------------------------------------------------------------ shutdown
    def shutdown(self) -> None:
        """The shutdown order, in one place; a second Ctrl+C shortens every step."""
        if self.tracker is not None:
            self.tracker.stopping()
        self._stop_training()
        if self.evaluator is not None:
            timeout = FORCED_STOP_TIMEOUT if self.force.is_set() else EVALUATOR_STOP_TIMEOUT
            if not self.evaluator.stop(timeout):
                log.error("the evaluator did not stop")
                self.failed = True
        server_timeout = FORCED_STOP_TIMEOUT if self.force.is_set() else SERVER_STOP_TIMEOUT
        if not self.server.stop(server_timeout):
            log.error("live server did not stop")
            self.failed = True
        else:
            log.info("live server stopped")
        if self.frontend is not None:
            frontend_timeout = FORCED_STOP_TIMEOUT if self.force.is_set() else FRONTEND_STOP_TIMEOUT
            self.frontend.stop(frontend_timeout)
            log.info("frontend stopped")
        if self.tensorboard is not None:
            timeout = FORCED_STOP_TIMEOUT if self.force.is_set() else FRONTEND_STOP_TIMEOUT
            self.tensorboard.stop(timeout)
            tensorboard_log.info("TensorBoard stopped")
        if self.training.error is not None:
            self.failed = True
        for name, gone in (
            ("training", not self.training.alive),
            ("evaluator", self.evaluator is not None),
            ("live_server", not self.server.alive),
            ("frontend", self.frontend is not None),
            ("tensorboard", self.tensorboard is not None),
        ):
            if gone:
                self._note_component(name, False)

    def _stop_training(self) -> None:
        """Training finishes its step and writes its final checkpoint; a second Ctrl+C stops
        the wait."""
        self.training.stop(timeout=0)  # ask; the wait below watches for a second Ctrl+C
        if not self._wait(lambda: not self.training.alive, TRAINING_STOP_TIMEOUT):
            self.failed = True
            if self.force.is_set():
                log.error("second Ctrl+C: not waiting for training to finish its final save")
            else:
                log.error("training did not stop within %.0f s", TRAINING_STOP_TIMEOUT)
        elif self.training.final_save_error is not None:
            log.error(
                "training stopped; final checkpoint NOT written (%s); "
                "newest saved checkpoint is %s",
                self.training.final_save_error,
                self.training.newest_checkpoint or "none",
            )
            self.failed = True
        elif self.training.final_checkpoint is not None:
            log.info(
                "training stopped; final checkpoint written: %s", self.training.final_checkpoint
            )

    # ------------------------------------------------------------ the record
    def _note_component(self, name: str, started: bool, **fields: object) -> None:
        if self.tracker is not None:
            self.tracker.component(name, started, **fields)

    def ending(self) -> Ending:
        """How the run ended, for the registry and the last event."""
        error = self.training.error
        if error is not None:
            return Ending("failed", "training raised an error", f"{type(error).__name__}: {error}")
        if self.server.fatal_error is not None:
            return Ending("failed", "live play kept failing", self.server.fatal_error)
        if self.failed and not self.stop_requested.is_set():
            return Ending("failed", "a part of the demo stopped unexpectedly")
        if self.training.trainer.finished():
            return Ending("completed", "episode budget reached")
        if self.training.final_save_error is not None:
            return Ending(
                "stopped",
                f"{self.stop_reason}; final checkpoint NOT written",
                self.training.final_save_error,
            )
        return Ending("stopped", f"{self.stop_reason}; final checkpoint written")

    def newest_checkpoint(self) -> Path | None:
        return self.training.newest_checkpoint

    def _wait(self, done: Callable[[], bool], timeout: float) -> bool:
        """Wait until ``done()``, at most ``timeout`` s, less if a second Ctrl+C comes."""
        deadline = time.monotonic() + timeout
        while not done():
            if self.force.is_set() or time.monotonic() >= deadline:
                return done()
            self.force.wait(0.05)
        return True


def has_graphical_browser() -> bool:
    """Without a display, ``webbrowser`` falls back to text browsers that take the terminal."""
    if sys.platform in ("darwin", "win32"):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def _wait_for_health(
    url: str,
    stop: threading.Event,
    fatal_error: Callable[[], str | None],
    timeout: float = 30.0,
    token: str | None = None,
) -> None:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not stop.is_set():
        if (error := fatal_error()) is not None:  # /health answers 503 now; no use waiting
            raise RuntimeError(f"live play keeps failing ({error}); shutting down")
        try:
            request = urllib.request.Request(url, headers=headers)
            with urllib.request.urlopen(request, timeout=1.0) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        stop.wait(0.1)
    if not stop.is_set():
        raise RuntimeError(f"live server did not answer {url} within {timeout:.0f} s")

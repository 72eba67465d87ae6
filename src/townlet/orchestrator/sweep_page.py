"""``run_demo.py --runs N``: a sweep with the live page, owned like a single run.

The single run's orchestrator starts and stops the parts (orchestrator.py): the live server in
its own process, Vite, the browser, and the shutdown order with its second-Ctrl+C escalation.
Here the part it starts first and stops first is the sweep instead of a training thread: the
sweep's driver loop (sweep/runner.py: it keeps ``--parallel`` trials running on Ray) runs in a
thread of its own, and the main thread keeps the signals. On Ctrl+C or SIGTERM the driver asks
every trial to stop (each writes its final checkpoint and is evaluated), Ray is shut down, then
the live server stops, then Vite's process group. A second Ctrl+C kills the trials instead of
waiting, as ``townlet sweep`` does.

When every trial has ended on its own (its budget reached), Ray is shut down and the page stays
up, playing the best trial's final checkpoint, until Ctrl+C: as a single run does when its
episode budget is reached. ``townlet stop SWEEP`` stops everything.
"""

from __future__ import annotations

import logging
import threading

from townlet.orchestrator.orchestrator import LiveServer, Orchestrator, OrchestratorOptions
from townlet.sweep.cluster import RayConnection
from townlet.sweep.runner import STOP_TIMEOUT_SECONDS, SweepDriver

log = logging.getLogger("townlet.sweep")

# The driver kills trials that have not stopped after STOP_TIMEOUT_SECONDS itself; this is
# only the wait for it to get there.
SWEEP_STOP_TIMEOUT = STOP_TIMEOUT_SECONDS + 60.0
KILL_WAIT_SECONDS = 30.0  # after a second Ctrl+C: the driver cancels the Ray tasks


class SweepWorker:
    """The sweep's driver loop in a thread; the orchestrator starts it and asks it to stop."""

    def __init__(self, driver: SweepDriver) -> None:
        self.driver = driver
        self.error: BaseException | None = None
        self.code: int | None = None  # the driver's exit code once it has concluded
        self.thread = threading.Thread(target=self._run, name="sweep-driver", daemon=False)

    def _run(self) -> None:
        try:
            self.driver.schedule()
            self.code = self.driver.conclude()
        except BaseException as error:  # reported to the orchestrator, never swallowed
            self.error = error
            log.exception("the sweep's driver failed")

    def start(self) -> None:
        # The registry was opened by this (the main) thread for register(); the driver's
        # thread opens a connection of its own.
        self.driver.release_registry()
        self.thread.start()

    def stop(self, reason: str, timeout: float | None = None) -> bool:
        """Ask every trial to stop (final checkpoint, evaluation); True once all have."""
        self.driver.request_stop(reason)
        self.thread.join(timeout)
        return not self.thread.is_alive()

    def kill(self) -> None:
        """Stop waiting: the driver cancels the trials' Ray tasks (no final checkpoint)."""
        self.driver.kill()

    @property
    def alive(self) -> bool:
        return self.thread.is_alive()


class SweepOrchestrator(Orchestrator):
    def __init__(
        self,
        worker: SweepWorker,
        connection: RayConnection,
        server: LiveServer,
        options: OrchestratorOptions,
    ) -> None:
        super().__init__(worker, server, options)  # type: ignore[arg-type]  # the sweep trains
        self.worker = worker
        self.connection: RayConnection | None = connection
        self._sweep_over = False

    def _watch(self) -> None:
        self._watch_workers(on_tick=self._notice_sweep_end)

    def _notice_sweep_end(self) -> None:
        """The driver's thread ended on its own: every trial finished, or ``townlet stop``."""
        if self.worker.alive or self._sweep_over or self.worker.error is not None:
            return
        self._sweep_over = True
        self._close_ray()
        driver = self.worker.driver
        if driver.stopping:
            self.stop_reason = driver.stop_reason
            self.stop_requested.set()
            return
        log.info(
            "every trial has ended; the live view plays on until Ctrl+C (results in %s)",
            driver.sweep_dir,
        )

    def _stop_training(self) -> None:
        worker = self.worker
        if worker.alive:
            reason = self.stop_reason if self.stop_requested.is_set() else "the page failed"
            worker.stop(reason, timeout=0)  # ask; the wait below watches for a second Ctrl+C
            if not self._wait(lambda: not worker.alive, SWEEP_STOP_TIMEOUT):
                worker.kill()
                worker.thread.join(KILL_WAIT_SECONDS)
                if worker.alive:
                    log.error("the sweep's driver did not end; Ray is shut down under it")
                    self.failed = True
        self._close_ray()
        if worker.error is not None:
            self.failed = True

    def _close_ray(self) -> None:
        connection, self.connection = self.connection, None
        if connection is None:
            return
        connection.close()
        if connection.started_here:
            log.info("Ray stopped (it was started for this sweep)")

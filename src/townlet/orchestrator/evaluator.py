"""The evaluator as a child process: greedy evaluation of every checkpoint, off training.

The worker (``townlet.evaluation.worker``) leads a process group of its own, so the terminal's
Ctrl+C never reaches it: we stop it, in order. Its stdin is a pipe only we hold the write end
of; closing it is how we stop it, and the kernel closes it for us if we die without stopping
it (kill -9, an OOM kill), so it never outlives us. Its log lines are relayed to our logging,
one record per line, at the level the worker logged them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

from townlet.orchestrator.process_group import group_alive

log = logging.getLogger("townlet.evaluation")

# "12:34:56.789 [Evaluation] WARNING: message", as the worker's formatter writes it.
_WORKER_LINE = re.compile(
    r"^\d\d:\d\d:\d\d\.\d{3} \[Evaluation\] (?:(?P<level>WARNING|ERROR|CRITICAL): )?(?P<text>.*)$"
)
_SOURCE_ROOT = Path(__file__).resolve().parents[2]  # the folder holding the townlet package


class EvaluatorProcess:
    def __init__(
        self, config_path: Path, checkpoint_dir: Path, output: Path, poll_seconds: float = 1.0
    ) -> None:
        self.config_path = config_path
        self.checkpoint_dir = checkpoint_dir
        self.output = output
        self.poll_seconds = poll_seconds
        self.process: subprocess.Popen[str] | None = None
        self._relay: threading.Thread | None = None

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "townlet.evaluation.worker",
            "--config",
            str(self.config_path),
            "--checkpoint-dir",
            str(self.checkpoint_dir),
            "--output",
            str(self.output),
            "--poll-seconds",
            str(self.poll_seconds),
        ]
        # Importable even when Townlet runs from a source tree that is not installed.
        path = os.pathsep.join(p for p in (str(_SOURCE_ROOT), os.environ.get("PYTHONPATH")) if p)
        self.process = subprocess.Popen(
            command,
            env={**os.environ, "PYTHONPATH": path},
            stdin=subprocess.PIPE,  # never written: its end-of-file is the stop signal
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._relay = threading.Thread(
            target=self._relay_output, args=(self.process,), name="evaluator-log"
        )
        self._relay.start()

    @property
    def pid(self) -> int | None:
        return self.process.pid if self.process is not None else None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 3.0) -> bool:
        """Close its stdin and wait; SIGTERM, then SIGKILL, its group if it lingers.

        True when the worker and its group are gone.
        """
        process = self.process
        if process is None:
            return True
        if process.stdin is not None:
            with contextlib.suppress(OSError):  # already closed, or the worker is gone
                process.stdin.close()
        gone = self._wait(process, timeout)
        for escalation in (signal.SIGTERM, signal.SIGKILL):
            if gone:
                break
            log.warning(
                "the evaluator did not stop within %.0f s; sending %s to its process group",
                timeout,
                escalation.name,
            )
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, escalation)
            gone = self._wait(process, timeout)
        if self._relay is not None:
            self._relay.join(timeout)  # ends once every writer of its pipe is gone
        return gone

    @staticmethod
    def _wait(process: subprocess.Popen[str], timeout: float) -> bool:
        """Reap the worker and wait for the rest of its group, up to ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout)
        while group_alive(process.pid):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return process.poll() is not None

    @staticmethod
    def _relay_output(process: subprocess.Popen[str]) -> None:
        assert process.stdout is not None
        with process.stdout:
            for line in process.stdout:
                text = line.rstrip()
                if not text:
                    continue
                match = _WORKER_LINE.match(text)
                if match is None:  # not our logging: a library's warning, a crash's traceback
                    log.warning("%s", text)
                else:
                    level = logging.getLevelName(match["level"] or "INFO")
                    log.log(level, "%s", match["text"])

"""The pipe between the training process and the live server's own process.

One duplex connection (a socketpair) carries small pickled tuples ``(kind, payload)`` both
ways. The training side sends where training stands a few times a second, the TensorBoard
address and the order to stop; the server side sends its log records, the checkpoints its
players hold (so pruning spares them), training controls from viewers, alerts that fire or
resolve (recorded in events.jsonl and the registry), and how it is doing (started, failing for
good). Either side seeing end-of-file knows the other is gone: that is
how the server process never outlives a training process killed with kill -9.
"""

from __future__ import annotations

import logging
import socket
import threading
import traceback
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path

from townlet.config import TownletConfig
from townlet.learner.trainer import TrainingProgress
from townlet.live.sweep_view import SweepSetup

# training -> server
PROGRESS = "progress"  # TrainingProgress | None
TENSORBOARD_URL = "tensorboard_url"  # str | None
STOP = "stop"  # None
# server -> training
STARTED = "started"  # None: uvicorn is serving
LOG = "log"  # logging.LogRecord, message formatted, traceback folded in
PINS = "pins"  # set[Path]: checkpoints the server's players hold
PAUSE_TRAINING = "pause_training"  # None
RESUME_TRAINING = "resume_training"  # None
FATAL = "fatal"  # str: live play gave up; the run should stop
ALERT = "alert"  # dict: an alert fired or resolved, and the alerts firing now (monitor.py)


@dataclass(frozen=True)
class LiveServerSetup:
    """Everything the server process needs to build the same app run_demo.py would."""

    config: TownletConfig
    checkpoint_dir: Path
    obs_dim: int
    page_origins: tuple[str, ...]
    run_dir: Path | None
    runs_dir: Path | None
    run_id: str | None
    run_name: str | None
    progress: TrainingProgress | None
    training_controllable: bool
    token: str | None = None
    monitoring: bool = True  # off only to measure what monitoring costs (benchmarks)
    # A sweep's trials (run_demo.py --runs): the server follows one at a time (sweep_view.py)
    # and the fields above that name one run's folder describe none.
    sweep: SweepSetup | None = None


class Link:
    """A Connection any thread may send on; ``recv`` belongs to one reader thread."""

    def __init__(self, connection: Connection) -> None:
        self.connection = connection
        self._send_lock = threading.Lock()

    @classmethod
    def pair(cls) -> tuple[Link, socket.socket]:
        """Our end, and the socket whose descriptor the child process inherits."""
        ours, theirs = socket.socketpair()
        link = cls(Connection(ours.detach()))
        return link, theirs

    @classmethod
    def from_descriptor(cls, descriptor: int) -> Link:
        return cls(Connection(descriptor))

    def send(self, kind: str, payload: object = None) -> bool:
        """False when the other side is gone (never raises for that)."""
        try:
            with self._send_lock:
                self.connection.send((kind, payload))
        except (OSError, EOFError, ValueError):  # ValueError: sent on a closed connection
            return False
        return True

    def poll(self, timeout: float) -> bool:
        """True when a message (or end-of-file) is waiting."""
        try:
            return self.connection.poll(timeout)
        except (OSError, EOFError, ValueError):
            return True  # the next recv reports the end

    def recv(self) -> tuple[str, object]:
        """The next message; EOFError once the other side is gone."""
        try:
            kind, payload = self.connection.recv()
        except (OSError, ValueError) as error:
            raise EOFError(str(error)) from None
        return kind, payload

    def close(self) -> None:
        self.connection.close()


class LinkLogHandler(logging.Handler):
    """Sends each record to the training process, which logs it as its own (console, run.log,
    events.jsonl): the server's lines keep their [Inference] prefix and land where they did."""

    def __init__(self, link: Link) -> None:
        super().__init__()
        self.link = link

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.link.send(LOG, portable_record(record))
        except Exception:  # a record that will not pickle must not take the server down
            self.handleError(record)


def portable_record(record: logging.LogRecord) -> logging.LogRecord:
    """A copy that pickles: the message formatted, a traceback folded into its text."""
    message = record.getMessage()
    if record.exc_info:
        message += "\n" + "".join(traceback.format_exception(*record.exc_info)).rstrip()
    copy = logging.makeLogRecord(record.__dict__)
    copy.msg, copy.args, copy.exc_info, copy.exc_text, copy.stack_info = (
        message,
        None,
        None,
        None,
        None,
    )
    return copy

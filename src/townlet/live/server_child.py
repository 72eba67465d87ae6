"""The live server's own process: ``python -m townlet.live.server_child --socket N --link M``.

Started by ``LiveServerProcess`` (server_process.py) with two inherited descriptors: the
listening socket the training process bound (so a busy port was already a clear error there)
and its end of the link. In a process of its own, the server's Python work (play ticks, JSON,
sends to every viewer) no longer takes turns with training for one interpreter lock.

The main thread reads the link; uvicorn serves in a thread (server_thread.py). The process ends
when told to stop, or at once when the link reaches end-of-file: the training process is gone,
whatever killed it.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading

import torch

from townlet.checkpoints import CheckpointCatalog
from townlet.learner.trainer import TrainingProgress
from townlet.live import process_link as link_messages
from townlet.live.app import create_app
from townlet.live.process_link import Link, LinkLogHandler, LiveServerSetup
from townlet.live.server_thread import LiveServerThread

log = logging.getLogger("townlet.inference")

STOP_TIMEOUT = 6.0  # uvicorn's graceful close (3 s) and the play loop's end
LINK_POLL_SECONDS = 0.2


class RemoteTraining:
    """Training as the live session sees it: the newest progress the link brought, and
    controls sent back over it (the training process carries them out)."""

    def __init__(self, link: Link, progress: TrainingProgress | None) -> None:
        self.link = link
        self._progress = progress
        self._lock = threading.Lock()

    def progress(self) -> TrainingProgress | None:
        with self._lock:
            return self._progress

    def update(self, progress: TrainingProgress | None) -> None:
        with self._lock:
            self._progress = progress

    def pause(self) -> None:
        self.link.send(link_messages.PAUSE_TRAINING)

    def resume(self) -> None:
        self.link.send(link_messages.RESUME_TRAINING)


def _log_through(link: Link) -> None:
    handler = LinkLogHandler(link)
    for name, level in (("townlet", logging.INFO), ("uvicorn", logging.WARNING)):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False


def serve(listener: socket.socket, link: Link) -> int:
    kind, setup = link.recv()
    if kind != "setup" or not isinstance(setup, LiveServerSetup):
        raise RuntimeError(f"expected the server's setup first, got {kind!r}")
    training = RemoteTraining(link, setup.progress)
    catalog = None
    if setup.sweep is None:  # a sweep's trials train elsewhere: no pins to hand back
        catalog = CheckpointCatalog(setup.checkpoint_dir, setup.obs_dim)
        catalog.watch_pins(lambda pinned: link.send(link_messages.PINS, pinned))
    app = create_app(
        setup.config,
        setup.checkpoint_dir,
        training.progress,
        page_origins=setup.page_origins,
        catalog=catalog,
        run_dir=setup.run_dir,
        training_control=training if setup.training_controllable else None,
        runs_dir=setup.runs_dir,
        run_id=setup.run_id,
        run_name=setup.run_name,
        token=setup.token,
        monitoring=setup.monitoring,
        # Our parent is the training process: /metrics and the system panel measure it too.
        # (A sweep's: its driver, until the followed trial's own process is known.)
        training_pid=os.getppid(),
        on_alert=lambda notice: link.send(link_messages.ALERT, notice),
        sweep=setup.sweep,
    )
    server = LiveServerThread(app, listener)
    server.start(timeout=60.0)
    link.send(link_messages.STARTED)
    told_fatal = False
    while server.alive:
        if not told_fatal and server.fatal_error is not None:
            told_fatal = link.send(link_messages.FATAL, server.fatal_error)
        if not link.poll(LINK_POLL_SECONDS):
            continue
        try:
            kind, payload = link.recv()
        except EOFError:  # the training process is gone: nobody is left to stop us in order
            server.stop(1.0)
            return 1
        if kind == link_messages.PROGRESS:
            training.update(payload if isinstance(payload, TrainingProgress) else None)
        elif kind == link_messages.TENSORBOARD_URL:
            server.set_tensorboard_url(payload if isinstance(payload, str) else None)
        elif kind == link_messages.STOP:
            return 0 if server.stop(STOP_TIMEOUT) else 1
    log.error("the live server stopped on its own: %r", server.error)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--socket", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--link", type=int, required=True, help="inherited link descriptor")
    args = parser.parse_args(argv)
    # The terminal's Ctrl+C is the training process's to handle: it stops us, in order.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    link = Link.from_descriptor(args.link)
    _log_through(link)
    torch.set_num_threads(1)  # play is one small forward pass a tick; leave the cores to training
    listener = socket.socket(fileno=args.socket)
    try:
        return serve(listener, link)
    except EOFError:
        return 1  # the training process went away before we were set up
    except Exception:
        log.exception("the live server process failed")
        return 1
    finally:
        listener.close()
        link.close()


if __name__ == "__main__":
    sys.exit(main())

"""The live server in a process of its own, as run_demo.py runs it, beside a real trainer."""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.live import PAGE_ORIGINS, get, post, receive_until, tiny_trainer, wait_for
from townlet.learner.trainer import DQNTrainer
from townlet.live.process_link import LiveServerSetup
from townlet.live.server_thread import bind_socket
from townlet.orchestrator.live_server_process import LiveServerProcess


def server_process(trainer: DQNTrainer) -> LiveServerProcess:
    setup = LiveServerSetup(
        config=trainer.config,
        checkpoint_dir=trainer.checkpoint_dir,
        obs_dim=trainer.world.obs_dim,
        page_origins=PAGE_ORIGINS,
        run_dir=None,
        runs_dir=None,
        run_id=None,
        run_name=None,
        progress=trainer.progress(),
        training_controllable=True,
    )
    return LiveServerProcess(
        setup, bind_socket("127.0.0.1", 0), trainer.progress, trainer, trainer.catalog
    )


@pytest.fixture
def trainer(tmp_path: Path) -> DQNTrainer:
    return tiny_trainer(tmp_path)


@pytest.fixture
def training(trainer: DQNTrainer) -> Iterator[threading.Event]:
    stop = threading.Event()
    thread = threading.Thread(target=trainer.run, args=(stop,))
    thread.start()
    wait_for(lambda: trainer.progress().running, 10, "training to start")
    yield stop
    stop.set()
    thread.join(30)
    assert not thread.is_alive()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return Path(f"/proc/{pid}/stat").exists() and "Z" not in _state(pid)


def _state(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return "Z"


def test_it_plays_pins_what_it_plays_relays_its_log_and_carries_out_controls(
    trainer: DQNTrainer, training: threading.Event, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="townlet.inference")
    server = server_process(trainer)
    server.start()
    assert server.process is not None
    pid, port = server.process.pid, server.port
    try:
        assert get(server, "/health")[0] == 200  # type: ignore[arg-type]
        with connect(f"ws://127.0.0.1:{port}/ws") as ws:
            playing = receive_until(ws, "model_loaded")["checkpoint"]
        # The trainer prunes in this process; the file the other process plays is spared.
        wait_for(
            lambda: trainer.checkpoint_dir / playing in trainer.catalog.pinned(),
            5,
            "the played checkpoint to be pinned in the trainer's catalog",
        )
        # Its log lines arrive here, under the live server's logger ([Inference]).
        wait_for(
            lambda: any(
                r.name == "townlet.inference" and r.getMessage().startswith(f"playing {playing}")
                for r in caplog.records
            ),
            5,
            "the server's 'playing' line in this process's log",
        )
        # A control from a viewer is carried out by the trainer in this process.
        status, body = post(server, "/api/training/pause")  # type: ignore[arg-type]
        assert status == 200 and body["ok"], body
        wait_for(lambda: trainer.progress().paused, 2, "training to pause")
        wait_for(
            lambda: get(server, "/api/status")[1]["training"]["paused"] is True,  # type: ignore[arg-type]
            2,
            "the server to report training paused",
        )
        status, body = post(server, "/api/training/resume")  # type: ignore[arg-type]
        assert status == 200 and body["ok"], body
        wait_for(lambda: not trainer.progress().paused, 2, "training to resume")
    finally:
        assert server.stop(8.0), "the server process should end"
    assert not _alive(pid)
    assert trainer.catalog.pinned() == set(), "its pins go with it"
    with socket.socket() as probe:  # the port is free again: nothing holds it
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_it_ends_on_its_own_when_the_training_side_goes_away(trainer: DQNTrainer) -> None:
    """What kill -9 of run_demo.py does to the link: its end closes, the child sees EOF."""
    server = server_process(trainer)
    server.start()
    assert server.process is not None and server.link is not None
    server.link.close()  # as the kernel does for a process that died
    try:
        server.process.wait(10)
    finally:
        server.stop(1.0)
    assert server.process.returncode is not None

"""Live play over a real socket keeps following training past files that do not read."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from websockets.sync.client import ClientConnection, connect

from tests.support.fake_checkpoints import huge_name, plant_all, plant_garbage
from tests.support.tiny import tiny_config
from townlet.checkpoints import save_checkpoint
from townlet.learner.trainer import DQNTrainer
from townlet.live.app import create_app
from townlet.live.server_thread import LiveServerThread, bind_socket

POLL_SECONDS = 0.05


@pytest.fixture
def trainer(tmp_path: Path) -> DQNTrainer:
    config = tiny_config()
    config = config.model_copy(
        update={
            "world": config.world.model_copy(update={"step_cap": 25}),
            "live": config.live.model_copy(
                update={"steps_per_second": 60.0, "poll_seconds": POLL_SECONDS}
            ),
        }
    )
    trainer = DQNTrainer(config, torch.device("cpu"), tmp_path / "checkpoints")
    trainer.save()
    return trainer


@pytest.fixture
def server(trainer: DQNTrainer) -> Iterator[LiveServerThread]:
    thread = LiveServerThread(
        create_app(trainer.config, trainer.checkpoint_dir, trainer.progress),
        bind_socket("127.0.0.1", 0),
    )
    thread.start()
    yield thread
    assert thread.stop(), "the server thread should end"


def receive_until(ws: ClientConnection, kind: str, limit: int = 500) -> dict[str, Any]:
    for _ in range(limit):
        message = json.loads(ws.recv(timeout=10))
        if message["type"] == kind:
            return message
    raise AssertionError(f"no {kind} message in {limit} messages")


def skip_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "townlet.inference" and r.getMessage().startswith("skipping checkpoint")
    ]


def test_live_play_steps_over_unreadable_newest_files_and_warns_once_each(
    server: LiveServerThread,
    trainer: DQNTrainer,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        first = receive_until(ws, "model_loaded")
        fakes = plant_all(
            trainer.checkpoint_dir,
            trainer.checkpoint_dir / first["checkpoint"],
            tmp_path / "level_2",
        )
        time.sleep(10 * POLL_SECONDS)
        trainer.episode, trainer.env_step = 7, 1234
        newer = trainer.save()

        loaded = receive_until(ws, "model_loaded")
        assert loaded["checkpoint"] == newer.name
        assert receive_until(ws, "episode_start")["episode"] >= 1
        # The status line names the newest checkpoint that reads, never a fake.
        status = receive_until(ws, "training_status")
        assert status["latest_checkpoint"] == newer.name
        time.sleep(20 * POLL_SECONDS)  # twenty more polls: no more warnings
        assert receive_until(ws, "training_status")["latest_checkpoint"] == newer.name

    warnings = skip_warnings(caplog)
    assert len(warnings) == len(fakes), warnings
    assert all(any(fake.name in w for w in warnings) for fake in fakes)
    assert all(fake.exists() for fake in fakes)


def test_a_rejected_file_rewritten_as_a_real_checkpoint_is_played(
    server: LiveServerThread, trainer: DQNTrainer, caplog: pytest.LogCaptureFixture
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        receive_until(ws, "model_loaded")
        garbage = plant_garbage(trainer.checkpoint_dir)
        deadline = time.monotonic() + 10
        while not skip_warnings(caplog) and time.monotonic() < deadline:
            time.sleep(POLL_SECONDS)
        assert len(skip_warnings(caplog)) == 1
        trainer.episode, trainer.env_step = 9, 4321
        save_checkpoint(trainer.state_dict(), trainer.checkpoint_dir, garbage.name)

        loaded = receive_until(ws, "model_loaded")
        assert loaded["checkpoint"] == huge_name(0) == garbage.name
        assert (loaded["episode"], loaded["env_step"]) == (9, 4321)

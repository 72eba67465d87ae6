"""The orchestrator notices a live play loop that keeps crashing and stops the run, non-zero.

Real trainer thread, real live server on a socket, real orchestrator; the fault is one method
of the real player replaced with one that raises.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from torch.utils.tensorboard import SummaryWriter

from tests.support.live import tiny_trainer
from townlet.checkpoints import list_checkpoints
from townlet.live.app import create_app
from townlet.live.protocol import Message
from townlet.live.server_thread import LiveServerThread, bind_socket
from townlet.orchestrator.orchestrator import Orchestrator, OrchestratorOptions
from townlet.orchestrator.training_worker import TrainingWorker


class Fault(RuntimeError):
    pass


@pytest.mark.parametrize("healthy_ticks", [0, 30], ids=["while starting", "while running"])
def test_a_play_loop_that_keeps_crashing_stops_the_run_with_exit_code_1(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, healthy_ticks: int
) -> None:
    trainer = tiny_trainer(tmp_path)
    writer = SummaryWriter(log_dir=str(tmp_path / "tensorboard"))
    server = LiveServerThread(
        create_app(
            trainer.config, trainer.checkpoint_dir, trainer.progress, catalog=trainer.catalog
        ),
        bind_socket("127.0.0.1", 0),
    )
    orchestrator = Orchestrator(
        TrainingWorker(trainer, writer),
        server,
        OrchestratorOptions(
            frontend_dir=tmp_path, frontend_port=0, open_browser=False, start_frontend=False
        ),
    )
    real_start = server.start

    def start_then_break(**options: Any) -> None:
        real_start(**options)
        player = server.app.state.session.player
        real_tick, ticks = player.tick, [0]

        def tick() -> list[Message]:
            ticks[0] += 1
            if ticks[0] <= healthy_ticks:
                return real_tick()
            raise Fault("live play broke on purpose")

        player.tick = tick  # type: ignore[method-assign]

    server.start = start_then_break  # type: ignore[method-assign]
    started = time.monotonic()
    with caplog.at_level(logging.INFO, logger="townlet"):
        code = orchestrator.run()
    took = time.monotonic() - started

    assert code == 1
    messages = [r.getMessage() for r in caplog.records]
    assert any("live play keeps failing" in m for m in messages), messages
    # In order, as on Ctrl+C: training saved and stopped, then the server.
    assert any("final checkpoint written" in m for m in messages), messages
    assert not server.alive and not orchestrator.training.alive
    assert list_checkpoints(trainer.checkpoint_dir)
    assert took < 30, f"the run should stop soon after the loop gives up, took {took:.1f} s"

"""A full disk (a real, tiny tmpfs) costs a warning, not the run, and loses nothing saved."""

from __future__ import annotations

import errno
import io
import json
import re
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from torch.utils.tensorboard import SummaryWriter
from websockets.sync.client import connect

from tests.support.small_disk import small_disk
from tests.support.tiny import tiny_config
from townlet.checkpoints import (
    CHECKPOINT_FORMAT_VERSION,
    describe_save_error,
    list_checkpoints,
    load_checkpoint,
)
from townlet.checkpoints.store import list_temporaries
from townlet.config import TownletConfig
from townlet.learner.trainer import DQNTrainer, FinalSave
from townlet.live.app import create_app
from townlet.live.server_thread import LiveServerThread, bind_socket
from townlet.orchestrator.training_worker import TrainingWorker

CPU = torch.device("cpu")
RETRY_SECONDS = 0.3


def quick_config() -> TownletConfig:
    """Saves every 0.2 s, TensorBoard every 0.1 s, live play at full speed."""
    config = tiny_config()
    return config.model_copy(
        update={
            "checkpoint": config.checkpoint.model_copy(
                update={"every_seconds": 0.2, "every_episodes": 10**6, "keep_last": 2}
            ),
            "logging": config.logging.model_copy(update={"tensorboard_every_seconds": 0.1}),
            "live": config.live.model_copy(update={"steps_per_second": 60.0, "poll_seconds": 0.05}),
        }
    )


def checkpoint_bytes(config: TownletConfig, scratch: Path) -> int:
    """What one checkpoint of a trained learner takes: about 122 KB for the tiny level 1.

    An untrained one (the first save of a run) is smaller, 86 KB: Adam keeps no state yet.
    """
    trainer = DQNTrainer(config, CPU, scratch)
    while trainer.update_step == 0:
        trainer.train_step()
    buffer = io.BytesIO()
    torch.save({"format_version": CHECKPOINT_FORMAT_VERSION, **trainer.state_dict()}, buffer)
    return buffer.tell() + 1024  # the survival history still grows a little


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def warnings_from(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger and r.levelname == "WARNING"]


def test_a_full_disk_costs_warnings_and_retries_while_training_and_live_play_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level("INFO", logger="townlet")
    config = quick_config()
    size = checkpoint_bytes(config, tmp_path / "scratch")
    # Room for four checkpoints, but the filler leaves space for one and a half: the first save
    # fits, the second does not.
    with small_disk(tmp_path / "disk", 4 * size) as disk:
        folder = disk.path / "checkpoints"
        trainer = DQNTrainer(config, CPU, folder)
        trainer.save_retry_seconds = RETRY_SECONDS
        disk.fill(leave_bytes=size * 3 // 2)
        stop = threading.Event()
        finals: list[FinalSave] = []
        training = threading.Thread(target=lambda: finals.append(trainer.run(stop)))
        server = LiveServerThread(
            create_app(config, folder, trainer.progress), bind_socket("127.0.0.1", 0)
        )
        training.start()
        server.start()
        try:
            wait_for(lambda: len(list_checkpoints(folder)) == 1, 30, "the first checkpoint")
            first = list_checkpoints(folder)[0]
            failing_since = time.monotonic()
            wait_for(
                lambda: any(
                    "still cannot save" in m for m in warnings_from(caplog, "townlet.training")
                ),
                30,
                "a failed save and a failed retry",
            )
            # Training goes on past the failures, and so does live play.
            steps = trainer.env_step
            wait_for(lambda: trainer.env_step > steps + 1000, 30, "training to go on")
            with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
                states = 0
                while states < 20:
                    states += json.loads(ws.recv(timeout=10))["type"] == "state"
            # Nothing saved was lost and nothing half-written was left.
            assert list_checkpoints(folder) == [first]
            assert load_checkpoint(first)["counters"]["env_step"] == 0
            assert list_temporaries(folder) == []

            disk.release()
            failing_seconds = time.monotonic() - failing_since
            wait_for(lambda: "checkpoint saving works again" in caplog.text, 30, "a save to work")
        finally:
            stop.set()
            training.join(60)
            assert server.stop(), "the server thread should end"

        [final] = finals
        assert final.error is None and final.path is not None
        assert load_checkpoint(final.path)["counters"]["env_step"] > 0
        assert list_temporaries(folder) == []

    failures = [m for m in warnings_from(caplog, "townlet.training") if "save checkpoint" in m]
    assert re.fullmatch(
        re.escape(f"could not save checkpoint to {folder}: no space left on device (")
        + r"\d+ KB free"
        + re.escape(
            "); training and live play go on; free space or move the run, retrying every "
            f"{RETRY_SECONDS:g} s; newest saved checkpoint: {first}"
        ),
        failures[0],
    ), failures[0]
    assert all("no space left on device" in m and str(first) in m for m in failures)
    # One warning per try, and tries on the retry clock, not every step.
    assert 2 <= len(failures) <= failing_seconds / RETRY_SECONDS + 2
    assert not any(r.exc_info for r in caplog.records), "warnings, not tracebacks"


# TensorBoard's own writer thread dies on the full disk with an uncaught OSError (tensorboard's
# _AsyncWriterThread re-raises); that is the failure this test feeds the trainer, not ours.
@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_final_save_on_a_full_disk_is_reported_and_tensorboard_cannot_stop_training(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = quick_config()
    size = checkpoint_bytes(config, tmp_path / "scratch")
    with small_disk(tmp_path / "disk", 3 * size) as disk:
        folder = disk.path / "checkpoints"
        writer = SummaryWriter(log_dir=str(disk.path / "tensorboard"))
        trainer = DQNTrainer(config, CPU, folder, writer)
        worker = TrainingWorker(trainer, writer)
        worker.start()
        try:
            wait_for(lambda: len(list_checkpoints(folder)) >= 1, 30, "the first checkpoint")
            disk.fill()
            wait_for(
                lambda: "TensorBoard logging stopped" in caplog.text, 30, "TensorBoard to fail"
            )
            steps = trainer.env_step
            wait_for(lambda: trainer.env_step > steps + 500, 30, "training to go on")
        finally:
            assert worker.stop(60)
        newest = worker.newest_checkpoint

    assert worker.error is None
    assert worker.final_checkpoint is None
    assert worker.final_save_error is not None
    assert worker.final_save_error.startswith("no space left on device (")
    assert newest is not None and newest.parent == folder
    assert (
        f"final checkpoint NOT written to {folder}: {worker.final_save_error}; "
        f"newest saved checkpoint: {newest}"
    ) in caplog.text


def test_save_errors_are_named_in_plain_words(tmp_path: Path) -> None:
    quota = describe_save_error(OSError(errno.EDQUOT, "Disk quota exceeded"), tmp_path)
    assert quota.startswith("disk quota exceeded (") and quota.endswith(" free)")
    other = describe_save_error(OSError(errno.EIO, "Input/output error"), tmp_path / "not-yet")
    assert other.startswith("input/output error (EIO) (")

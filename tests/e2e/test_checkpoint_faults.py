"""Checkpoint faults through the real run_demo.py: a full disk, bad newest files, --fresh reuse."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import torch

from tests.support.demo_process import DemoProcess, demo_args, free_port, write_tiny_config
from tests.support.fake_checkpoints import plant_garbage, plant_truncated_copy
from tests.support.small_disk import small_disk
from tests.support.tiny import tiny_config
from townlet.checkpoints import list_checkpoints, load_checkpoint
from townlet.learner.trainer import DQNTrainer

pytestmark = pytest.mark.e2e


def run_args(config: Path, runs: Path, *extra: str) -> list[str]:
    return [*demo_args(config, runs, free_port(), None), *extra]


def stop(demo: DemoProcess) -> int:
    demo.interrupt()
    code = demo.process.wait(timeout=30)
    demo.drain()
    return code


def test_a_full_disk_keeps_training_and_live_play_and_says_the_final_save_failed(
    tmp_path: Path,
) -> None:
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    checkpoints = tmp_path / "disk"
    with small_disk(checkpoints, 2 * 1024 * 1024) as disk:
        demo = DemoProcess(run_args(config, runs, "--checkpoint-dir", str(checkpoints)))
        try:
            demo.wait_for_line(r"ready in", timeout=90)
            saved = demo.wait_for_line(r"\[Inference\] playing (\S+)", timeout=60)[1]
            disk.fill()  # the disk fills up while the run goes on
            demo.wait_for_line(r"could not save checkpoint to .*no space left on device", 60)
            # Training goes on: it keeps reporting, and live play keeps going.
            demo.wait_for_line(r"\[Training\] episode \d+ \| env step", timeout=60)
            assert demo.process.poll() is None
            code = stop(demo)
        finally:
            if demo.process.poll() is None:
                demo.kill_everything()
        log = demo.log()
        assert code == 1, log
        assert "Traceback" not in log, log
        assert re.search(r"final checkpoint NOT written .*no space left on device", log), log
        assert f"newest saved checkpoint is {checkpoints}" in log, log
        # Nothing already saved was lost, and no half-written file was left.
        assert (checkpoints / saved).exists()
        assert load_checkpoint(checkpoints / saved)["counters"]["env_step"] >= 0
        assert not list(checkpoints.glob(".tmp-*"))
        assert "live server stopped" in log


def test_resume_skips_unreadable_newest_files_and_uses_the_newest_good_one(
    tmp_path: Path,
) -> None:
    checkpoints = tmp_path / "checkpoints"
    trainer = DQNTrainer(tiny_config(), torch.device("cpu"), checkpoints)
    trainer.episode, trainer.env_step = 3, 4096
    good = trainer.save()
    garbage = plant_garbage(checkpoints)
    truncated = plant_truncated_copy(checkpoints, good)
    config = write_tiny_config(tmp_path)
    demo = DemoProcess(run_args(config, tmp_path / "runs", "--checkpoint-dir", str(checkpoints)))
    try:
        resumed = demo.wait_for_line(r"resuming from (\S+) \(episode (\d+)", timeout=90)
        demo.wait_for_line(r"ready in", timeout=60)
        assert stop(demo) == 0, demo.log()
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()
    log = demo.log()
    assert Path(resumed[1]) == good and resumed[2] == "3"
    for bad in (garbage, truncated):
        assert log.count(bad.name) >= 1, log
    assert "Traceback" not in log
    assert garbage.exists() and truncated.exists(), "files we cannot read are never deleted"


def test_fresh_into_a_folder_of_an_earlier_run_is_refused_and_deletes_nothing(
    tmp_path: Path,
) -> None:
    checkpoints = tmp_path / "checkpoints"
    trainer = DQNTrainer(tiny_config(), torch.device("cpu"), checkpoints)
    for step in (1000, 2000, 3000, 4000):
        trainer.episode, trainer.env_step = step // 100, step
        trainer.save()
    before = list_checkpoints(checkpoints)
    runs = tmp_path / "runs"
    demo = DemoProcess(
        run_args(write_tiny_config(tmp_path), runs, "--fresh", "--checkpoint-dir", str(checkpoints))
    )
    assert demo.process.wait(timeout=60) == 2
    demo.drain()
    log = demo.log()
    assert f"{checkpoints} already holds {len(before)} checkpoint(s)" in log, log
    assert "drop --fresh" in log
    assert list_checkpoints(checkpoints) == before
    assert not runs.exists(), "nothing is written when start-up is refused"

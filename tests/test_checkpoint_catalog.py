"""One meaning of "newest checkpoint": files that do not read are stepped over, never counted
toward keep_last and never deleted; a run prunes only its own lineage; resume and a fresh run
agree with both."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest
import torch

from tests.support.fake_checkpoints import plant_all, plant_garbage, plant_truncated_copy
from tests.support.tiny import tiny_config
from townlet.checkpoints import (
    CheckpointCatalog,
    CheckpointError,
    list_checkpoints,
    load_checkpoint,
    save_checkpoint,
)
from townlet.checkpoints.milestones import milestones
from townlet.checkpoints.store import checkpoint_order
from townlet.config import TownletConfig
from townlet.evaluation.best import BestCheckpointPin, best_of
from townlet.learner.trainer import DQNTrainer
from townlet.live.player import LivePlayer
from townlet.orchestrator.run_paths import check_fresh_checkpoint_dir, find_resume_checkpoint
from townlet.run_records import EvaluationPoint

CPU = torch.device("cpu")


def keeping(keep_last: int) -> TownletConfig:
    config = tiny_config()
    return config.model_copy(
        update={"checkpoint": config.checkpoint.model_copy(update={"keep_last": keep_last})}
    )


def save_at(trainer: DQNTrainer, episode: int, env_step: int) -> Path:
    """A checkpoint with these counters (the weights do not matter here)."""
    trainer.episode, trainer.env_step = episode, env_step
    return trainer.save()


def messages(caplog: pytest.LogCaptureFixture, logger: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == logger]


def test_files_named_newest_that_do_not_read_are_never_counted_nor_pruned(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "checkpoints"
    trainer = DQNTrainer(keeping(2), CPU, folder)
    # Env steps between two powers of two: no checkpoint but the folder's first is a milestone.
    first = save_at(trainer, 1, 1030)
    fakes = plant_all(folder, first, tmp_path / "level_2")
    real = [first] + [save_at(trainer, 1 + i, 1030 + 16 * (1 + i)) for i in range(4)]

    assert all(fake.exists() for fake in fakes), "files that are not ours are never deleted"
    assert [p for p in list_checkpoints(folder) if p not in fakes] == [first, *real[-2:]]
    catalog = trainer.catalog
    assert catalog.newest(verified=True) == real[-1]
    assert catalog.candidates() == [first, *real[-2:]], "rejected files are remembered"
    # Each fake is reported once, not once per prune.
    ignored = [m for m in messages(caplog, "townlet.training") if m.startswith("ignoring")]
    assert len(ignored) == 3
    assert all(any(fake.name in m for m in ignored) for fake in fakes)
    # Every reader means the same file by "newest".
    fresh = CheckpointCatalog(folder, obs_dim=trainer.world.obs_dim).load_newest()
    assert fresh.checkpoint is not None and fresh.checkpoint.path == real[-1]
    assert {r.path for r in fresh.skipped} == set(fakes)


def test_a_rejected_file_that_is_rewritten_is_judged_again(tmp_path: Path) -> None:
    trainer = DQNTrainer(tiny_config(), CPU, tmp_path)
    real = save_at(trainer, 1, 16)
    garbage = plant_garbage(tmp_path)
    catalog = CheckpointCatalog(tmp_path, obs_dim=trainer.world.obs_dim)

    newest = catalog.load_newest()
    assert newest.checkpoint is not None and newest.checkpoint.path == real
    assert [r.path for r in newest.skipped] == [garbage]
    assert catalog.reject(garbage, "again") is False, "the same version is reported once"
    assert catalog.load_newest().skipped == []

    save_checkpoint(trainer.state_dict(), tmp_path, garbage.name)  # now a real checkpoint
    assert catalog.candidates() == [real, garbage]
    newest = catalog.load_newest()
    assert newest.checkpoint is not None and newest.checkpoint.path == garbage


def test_a_fresh_run_beside_a_longer_earlier_run_keeps_its_own_checkpoints(
    tmp_path: Path,
) -> None:
    earlier = DQNTrainer(keeping(3), CPU, tmp_path)
    old = [save_at(earlier, 500 + i, 800_000 + 16 * i) for i in range(3)]

    with pytest.raises(CheckpointError) as refused:
        check_fresh_checkpoint_dir(tmp_path)
    assert str(refused.value) == (
        f"{tmp_path} already holds 3 checkpoint(s) of an earlier run (newest {old[-1].name}); "
        "a fresh run must not mix with them: choose an empty folder, or drop --fresh to resume it"
    )
    check_fresh_checkpoint_dir(tmp_path / "empty")  # a new or empty folder is fine

    # Even without that check, a new run's pruning leaves other runs' files alone and does not
    # count them: its own checkpoints sort below the old ones and must survive.
    fresh = DQNTrainer(keeping(2), CPU, tmp_path)
    assert fresh.run_id != earlier.run_id
    new = [save_at(fresh, 1 + i, 1030 + 16 * i) for i in range(4)]
    # new[0] is the folder's first checkpoint: a milestone, kept for good.
    assert list_checkpoints(tmp_path) == [new[0], *new[-2:], *old]
    assert load_checkpoint(new[-1])["run_id"] == fresh.run_id


def test_a_resumed_run_prunes_the_checkpoints_of_the_run_it_continues(tmp_path: Path) -> None:
    first = DQNTrainer(keeping(2), CPU, tmp_path)
    before = [save_at(first, 1 + i, 1030 + 16 * i) for i in range(2)]
    resumed = DQNTrainer(keeping(2), CPU, tmp_path)
    resumed.load_state_dict(load_checkpoint(before[-1]))
    assert resumed.run_id == first.run_id
    after = [save_at(resumed, 3 + i, 1030 + 16 * (2 + i)) for i in range(2)]
    # before[0] stays only as the folder's first checkpoint (a milestone).
    assert list_checkpoints(tmp_path) == [before[0], *after]


def test_resume_skips_newest_files_that_do_not_read_with_one_warning_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = tmp_path / "checkpoints"
    trainer = DQNTrainer(tiny_config(), CPU, folder)
    older, newest = save_at(trainer, 1, 16), save_at(trainer, 2, 32)
    fakes = [plant_garbage(folder), plant_truncated_copy(folder, newest)]

    resume = find_resume_checkpoint(tmp_path / "runs", "tiny", folder)
    assert resume is not None and resume.path == newest != older
    assert resume.state["counters"]["env_step"] == 32
    warnings = messages(caplog, "townlet.orchestrator")
    assert len(warnings) == 2
    assert all(any(fake.name in w for w in warnings) for fake in fakes)


def test_resume_across_runs_takes_the_most_recent_run_that_reads(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    earlier = DQNTrainer(tiny_config(), CPU, runs / "tiny" / "2024-01-01_000000" / "checkpoints")
    good = save_at(earlier, 3, 48)
    broken_run = runs / "tiny" / "2024-01-02_000000" / "checkpoints"
    broken_run.mkdir(parents=True)
    garbage = plant_garbage(broken_run)
    os.utime(good, ns=(1_000_000_000, 1_000_000_000))  # the run with garbage is more recent

    resume = find_resume_checkpoint(runs, "tiny", None)
    assert resume is not None and resume.path == good
    assert garbage.exists(), "a file we cannot read is reported, not deleted"


def test_the_file_live_play_holds_is_never_pruned(tmp_path: Path) -> None:
    trainer = DQNTrainer(keeping(2), CPU, tmp_path)
    player = LivePlayer(trainer.config, tmp_path, catalog=trainer.catalog)
    first = save_at(trainer, 1, 1030)  # the folder's first: a milestone, kept regardless
    playing = save_at(trainer, 2, 1046)
    policy = player.find_newer_policy()
    assert policy is not None and policy.path == playing
    player.offer(policy)

    saved = [save_at(trainer, 3 + i, 1062 + 16 * i) for i in range(4)]
    assert list_checkpoints(tmp_path) == [first, playing, *saved[-2:]]

    queued = player.find_newer_policy()
    assert queued is not None and queued.path == saved[-1]
    player.offer(queued)  # plays from the next live episode; both files are held meanwhile
    later = [save_at(trainer, 10 + i, 1200 + 16 * i) for i in range(3)]
    assert list_checkpoints(tmp_path) == [first, playing, saved[-1], *later[-2:]]


def test_milestones_past_each_power_of_two_are_never_pruned(tmp_path: Path) -> None:
    trainer = DQNTrainer(keeping(2), CPU, tmp_path)
    steps = [0, 3000, 3500, 4200, 5000, 7000, 8100, 9000, 16_500, 17_000]
    saved = {step: save_at(trainer, i + 1, step) for i, step in enumerate(steps)}
    # The first file; the first at or past 2048, 4096, 8192 and 16384; and the newest two.
    kept = [0, 3000, 4200, 9000, 16_500, 17_000]
    assert list_checkpoints(tmp_path) == [saved[step] for step in kept]
    # Every reader gets the same set from the files alone.
    assert trainer.catalog.milestones() == {saved[step] for step in kept[:-1]}
    fresh = CheckpointCatalog(tmp_path, obs_dim=trainer.world.obs_dim)
    fresh.load_newest()
    assert milestones(list_checkpoints(tmp_path)) == trainer.catalog.milestones()


def test_a_trainer_starting_on_a_folder_removes_temporaries_a_crash_left(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="townlet.training")
    real = save_checkpoint({"episode": 1}, tmp_path, "ckpt_ep000000001_step000000000016.pt")
    stale = [tmp_path / ".tmp-abc123.partial", tmp_path / ".tmp-def456.partial"]
    for path in stale:
        path.write_bytes(b"half a checkpoint")
    DQNTrainer(tiny_config(), CPU, tmp_path)
    assert sorted(tmp_path.iterdir()) == [real]
    assert "removed 2 temporary file(s) left by an interrupted save" in caplog.text


def _evaluated(path: Path, mean: float, share: float = 0.0) -> EvaluationPoint:
    step = checkpoint_order(path)
    assert step is not None
    return EvaluationPoint(
        checkpoint=path.name,
        env_step=step[0],
        episode=1,
        worlds=8,
        step_cap=500,
        mean_survival=mean,
        min_survival=0,
        max_survival=500,
        share_at_cap=share,
        causes={},
        wall_time=0.0,
    )


def test_the_best_evaluated_checkpoint_is_never_pruned_until_a_better_one_comes(
    tmp_path: Path,
) -> None:
    trainer = DQNTrainer(keeping(2), CPU, tmp_path / "checkpoints")
    pin = BestCheckpointPin(trainer.catalog)
    save_at(trainer, 1, 1030)  # a folder's first checkpoint is kept for good (a milestone)
    good = save_at(trainer, 1, 1040)
    pin.offer(_evaluated(good, 480.0))
    for index in range(4):  # worse ones: training went on and the policy got worse
        worse = save_at(trainer, 2 + index, 1100 + 16 * index)
        pin.offer(_evaluated(worse, 300.0))
    assert good.exists(), "the best stays, whatever keep_last says"
    assert pin.best is not None and pin.best.checkpoint == good.name

    tie = save_at(trainer, 9, 2000)
    pin.offer(_evaluated(tie, 480.0, share=0.5))  # same mean, more worlds at the cap
    assert pin.best.checkpoint == tie.name
    for index in range(3):
        save_at(trainer, 10 + index, 2100 + 16 * index)
    assert not good.exists(), "once a better one is pinned, the old best is pruned as usual"
    assert tie.exists()


def test_a_best_already_pruned_is_passed_over(tmp_path: Path) -> None:
    trainer = DQNTrainer(keeping(1), CPU, tmp_path / "checkpoints")
    pin = BestCheckpointPin(trainer.catalog)
    save_at(trainer, 1, 1030)  # a folder's first checkpoint is kept for good (a milestone)
    gone = save_at(trainer, 1, 1040)
    kept = save_at(trainer, 2, 1100)
    assert not gone.exists()
    pin.offer(_evaluated(gone, 500.0))
    pin.offer(_evaluated(kept, 200.0))
    assert pin.best is not None and pin.best.checkpoint == kept.name
    assert best_of([_evaluated(gone, 500.0), _evaluated(kept, 200.0)]).checkpoint == gone.name

"""Checkpoints are never torn, describe themselves, and refuse what they cannot read."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
import torch

from townlet.checkpoints import (
    CheckpointError,
    checkpoint_name,
    find_latest_checkpoint,
    list_checkpoints,
    load_checkpoint,
    prune_checkpoints,
    save_checkpoint,
)


def _payload(generation: int) -> dict:
    # Big enough (4 MB) that a non-atomic write is caught half-way by a polling reader.
    return {"generation": generation, "weights": torch.full((1_000_000,), float(generation))}


def test_reader_polling_during_repeated_saves_never_sees_a_torn_file(tmp_path: Path) -> None:
    name = "ckpt_ep000000001_step000000000001.pt"
    save_checkpoint(_payload(0), tmp_path, name)
    writes = 60
    writer_done = threading.Event()
    errors: list[BaseException] = []

    def write_repeatedly() -> None:
        try:
            for generation in range(1, writes + 1):
                save_checkpoint(_payload(generation), tmp_path, name)
        except BaseException as error:
            errors.append(error)
        finally:
            writer_done.set()

    writer = threading.Thread(target=write_repeatedly)
    writer.start()
    reads = 0
    seen: set[int] = set()
    while not writer_done.is_set():
        payload = load_checkpoint(tmp_path / name)
        generation = payload["generation"]
        # Torn or mixed files show up as a load error or as weights from another generation.
        assert torch.all(payload["weights"] == generation)
        seen.add(generation)
        reads += 1
    writer.join()
    assert not errors
    assert reads >= 10
    assert len(seen) >= 3, "the reader should have observed several generations"
    assert load_checkpoint(tmp_path / name)["generation"] == writes
    assert [p.name for p in tmp_path.iterdir()] == [name], "no temporary files left behind"


def test_checkpoints_sort_in_training_order_and_prune_keeps_the_newest(tmp_path: Path) -> None:
    # Steps between two powers of two: only the first file is a milestone (never pruned).
    for episode, step in [(5, 1700), (1, 1100), (12, 2000), (3, 1400)]:
        save_checkpoint({"episode": episode}, tmp_path, checkpoint_name(episode, step))
    (tmp_path / ".tmp-half-written.partial").write_bytes(b"junk")
    assert [load_checkpoint(p)["episode"] for p in list_checkpoints(tmp_path)] == [1, 3, 5, 12]
    prune_checkpoints(tmp_path, keep_last=2)
    assert [load_checkpoint(p)["episode"] for p in list_checkpoints(tmp_path)] == [1, 5, 12]
    latest = find_latest_checkpoint(tmp_path)
    assert latest is not None and latest.name == checkpoint_name(12, 2000)


def test_loading_refuses_other_versions_and_foreign_files(tmp_path: Path) -> None:
    torch.save({"format_version": 999}, tmp_path / "future.pt")
    with pytest.raises(CheckpointError, match="format version 999"):
        load_checkpoint(tmp_path / "future.pt")
    (tmp_path / "garbage.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="could not be read"):
        load_checkpoint(tmp_path / "garbage.pt")
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "missing.pt")

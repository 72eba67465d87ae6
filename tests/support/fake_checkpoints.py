"""Files named like the newest checkpoint that are not usable ones: what users really drop in."""

from __future__ import annotations

from pathlib import Path

import torch

from tests.support.tiny import tiny_config
from townlet.checkpoints import checkpoint_name
from townlet.learner.trainer import DQNTrainer

HUGE = 999_999_000  # episode numbers that sort above every real checkpoint


def huge_name(index: int) -> str:
    return checkpoint_name(HUGE + index, (HUGE + index) * 1000)


def plant_garbage(directory: Path, index: int = 0) -> Path:
    path = directory / huge_name(index)
    path.write_bytes(b"this is not a checkpoint\n" * 40)
    return path


def plant_truncated_copy(directory: Path, real: Path, index: int = 1) -> Path:
    """The first half of a real checkpoint, as an interrupted copy leaves it."""
    path = directory / huge_name(index)
    data = real.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def plant_other_level(directory: Path, scratch: Path, index: int = 2) -> Path:
    """A real, readable checkpoint of level 2 (400 observation features instead of 115)."""
    other = DQNTrainer(tiny_config("level_2_pomdp"), torch.device("cpu"), scratch)
    path = directory / huge_name(index)
    path.write_bytes(other.save().read_bytes())
    return path


def plant_all(directory: Path, real: Path, scratch: Path) -> list[Path]:
    """One of each, named as the three newest checkpoints in ``directory``."""
    return [
        plant_garbage(directory),
        plant_truncated_copy(directory, real),
        plant_other_level(directory, scratch),
    ]

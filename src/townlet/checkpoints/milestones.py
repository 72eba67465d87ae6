"""Milestones: checkpoints that are never pruned, so the early agent can be replayed later.

A checkpoint is a milestone when it is the first of its folder, or the first one saved at or
past a power-of-two number of env steps (1, 2, 4, ... 1,048,576, ...): a handful per run,
spread evenly on a log scale of training time.

The rule looks only at the checkpoint before it in the folder. Pruning deletes only
non-milestones, and deleting those never changes which files are milestones: if neither
(a, b] nor (b, c] holds a power of two, (a, c] does not either. So every reader (pruning, the
page's picker, the compare view) computes the same set from the files alone, with nothing
else to store.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from townlet.checkpoints.store import checkpoint_order


def _crosses_power_of_two(previous: int, current: int) -> bool:
    """Whether some 2**k lies in (previous, current]."""
    if current < 1:
        return False
    highest = 1 << (current.bit_length() - 1)  # the largest power of two <= current
    return highest > previous


def milestones(paths: Sequence[Path]) -> set[Path]:
    """The milestones among ``paths`` (checkpoint files of one folder, any order)."""
    ordered = sorted(
        (order, path) for path in paths if (order := checkpoint_order(path)) is not None
    )
    found: set[Path] = set()
    previous_step: int | None = None
    for (env_step, _episode), path in ordered:
        if previous_step is None or _crosses_power_of_two(previous_step, env_step):
            found.add(path)
        previous_step = env_step
    return found

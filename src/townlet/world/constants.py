"""Names shared by the world, the learner and the live player."""

from __future__ import annotations

from enum import IntEnum

from townlet.config.models import METER_NAMES

MeterNames: tuple[str, ...] = METER_NAMES  # both spellings are public
ACTION_NAMES: tuple[str, ...] = ("UP", "DOWN", "LEFT", "RIGHT", "INTERACT", "WAIT")
NUM_ACTIONS = len(ACTION_NAMES)
UP, DOWN, LEFT, RIGHT, INTERACT, WAIT = range(NUM_ACTIONS)
# (dx, dy) per action; (0, 0) is the top-left cell, so UP decreases y.
ACTION_DELTAS: tuple[tuple[int, int], ...] = ((0, -1), (0, 1), (-1, 0), (1, 0), (0, 0), (0, 0))

METER_INDEX: dict[str, int] = {name: i for i, name in enumerate(MeterNames)}
ENERGY = METER_INDEX["energy"]
MONEY = METER_INDEX["money"]
HEALTH = METER_INDEX["health"]
FITNESS = METER_INDEX["fitness"]


class DeathCause(IntEnum):
    """Why an episode ended; `str(cause)` gives 'energy', 'health' or 'step_cap'."""

    ALIVE = 0
    ENERGY = 1
    HEALTH = 2
    STEP_CAP = 3

    def __str__(self) -> str:
        return self.name.lower()

    @property
    def label(self) -> str:
        return self.name.lower()


# The death cause reported when a terminal meter reaches zero.
TERMINAL_CAUSE: dict[str, DeathCause] = {"energy": DeathCause.ENERGY, "health": DeathCause.HEALTH}

"""The vectorised Townlet world: N independent worlds stepped as batched tensor ops."""

from townlet.world.constants import ACTION_NAMES, METER_NAMES, NUM_ACTIONS, DeathCause, MeterNames
from townlet.world.vector_world import StepResult, VectorWorld

__all__ = [
    "ACTION_NAMES",
    "METER_NAMES",
    "NUM_ACTIONS",
    "DeathCause",
    "MeterNames",
    "StepResult",
    "VectorWorld",
]

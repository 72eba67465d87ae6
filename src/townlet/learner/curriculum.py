"""Curriculum stages that really change the world the agent trains in."""

from __future__ import annotations

from collections import deque
from typing import Any

from townlet.config import CurriculumConfig
from townlet.world import VectorWorld


class Curriculum:
    """Advances when recent survival is high, steps back when it collapses.

    A stage scales every world's passive drain and can switch to sparse reward; the world reads
    both tensors on every tick, so a stage change takes effect on the very next step.
    """

    def __init__(self, config: CurriculumConfig, step_cap: int) -> None:
        self.config = config
        self.step_cap = step_cap
        self.stage = 0
        self.recent: deque[int] = deque(maxlen=config.window)

    def apply(self, world: VectorWorld) -> None:
        stage = self.config.stages[self.stage]
        world.drain_scale.fill_(stage.drain_scale)
        world.sparse_reward.fill_(bool(stage.sparse_reward))

    def record(self, survival_lengths: list[int]) -> bool:
        """Feed finished episodes; returns True when the stage changed."""
        self.recent.extend(survival_lengths)
        if len(self.recent) < self.config.window:
            return False
        mean_fraction = sum(self.recent) / len(self.recent) / self.step_cap
        last_stage = len(self.config.stages) - 1
        if mean_fraction >= self.config.advance_survival and self.stage < last_stage:
            self.stage += 1
        elif mean_fraction < self.config.retreat_survival and self.stage > 0:
            self.stage -= 1
        else:
            return False
        self.recent.clear()  # judge the new stage on its own episodes
        return True

    def state_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "recent": list(self.recent)}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.stage = int(state["stage"])
        self.recent.clear()
        self.recent.extend(int(v) for v in state["recent"])

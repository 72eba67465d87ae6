"""Epsilon-greedy pieces; random legal actions come from ``townlet.world.baselines``."""

from __future__ import annotations

import torch


class LinearEpsilon:
    """Epsilon falls linearly from ``start`` to ``end`` over ``decay_steps`` env transitions."""

    def __init__(self, start: float, end: float, decay_steps: int) -> None:
        self.start, self.end, self.decay_steps = start, end, max(decay_steps, 1)

    def __call__(self, env_step: int) -> float:
        fraction = min(env_step / self.decay_steps, 1.0)
        return self.start + fraction * (self.end - self.start)


def greedy_actions(q_values: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return q_values.masked_fill(~masks, float("-inf")).argmax(dim=-1)


def gap_to_best(q_values: torch.Tensor, masks: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
    """How far each taken action's value falls below the best legal one (last dim: actions)."""
    best = q_values.masked_fill(~masks, float("-inf")).amax(dim=-1)
    taken = q_values.gather(-1, actions.unsqueeze(-1)).squeeze(-1)
    return best - taken

"""Epsilon-greedy action choice that never picks a masked action."""

from __future__ import annotations

import torch


class LinearEpsilon:
    """Epsilon falls linearly from ``start`` to ``end`` over ``decay_steps`` env transitions."""

    def __init__(self, start: float, end: float, decay_steps: int) -> None:
        self.start, self.end, self.decay_steps = start, end, max(decay_steps, 1)

    def __call__(self, env_step: int) -> float:
        fraction = min(env_step / self.decay_steps, 1.0)
        return self.start + fraction * (self.end - self.start)


class RandomLegalActions:
    """Uniform over legal actions, by table lookup rather than a masked argmax of noise.

    Every possible mask (2**A of them) gets a row listing its legal actions; a world draws one
    uniform number and indexes that row. On CPU this is several times faster than sampling
    scores for every action and masking them.
    """

    def __init__(self, num_actions: int, device: torch.device) -> None:
        rows = 1 << num_actions
        table = torch.full((rows, num_actions), num_actions - 1, dtype=torch.long)
        counts = torch.zeros(rows, dtype=torch.long)
        for bits in range(rows):
            legal = [a for a in range(num_actions) if bits >> a & 1]
            counts[bits] = max(len(legal), 1)
            table[bits, : len(legal)] = torch.tensor(legal, dtype=torch.long)
        self.num_actions = num_actions
        self.table = table.flatten().to(device)
        self.counts = counts.float().to(device)
        self.bit_values = (1 << torch.arange(num_actions)).to(device)

    def __call__(self, masks: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        rows = (masks.long() * self.bit_values).sum(dim=1)
        uniforms = torch.rand(masks.shape[0], generator=generator, device=masks.device)
        picks = (uniforms * self.counts.index_select(0, rows)).long()
        return self.table.index_select(0, rows * self.num_actions + picks)


def greedy_actions(q_values: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    return q_values.masked_fill(~masks, float("-inf")).argmax(dim=-1)

"""Random network distillation: a novelty bonus that fades once the agent survives."""

from __future__ import annotations

import torch
from torch import nn


def _embedding_net(obs_dim: int, width: int = 128, out: int = 64) -> nn.Sequential:
    return nn.Sequential(nn.Linear(obs_dim, width), nn.ReLU(), nn.Linear(width, out))


class RandomNetworkDistillation(nn.Module):
    """Intrinsic reward = how badly a trained predictor matches a frozen random network.

    The bonus is normalised by a running estimate of its own scale so ``coefficient`` means
    the same across levels, and the trainer adds it to the stored reward exactly once, when a
    transition enters replay.
    """

    def __init__(self, obs_dim: int, learning_rate: float) -> None:
        super().__init__()
        self.target = _embedding_net(obs_dim)
        self.predictor = _embedding_net(obs_dim)
        for parameter in self.target.parameters():
            parameter.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.predictor.parameters(), lr=learning_rate)
        self.register_buffer("error_scale", torch.zeros(()))  # 0 = not yet measured

    @torch.no_grad()
    def bonus(self, observations: torch.Tensor) -> torch.Tensor:
        error = (self.predictor(observations) - self.target(observations)).pow(2).mean(dim=1)
        if bool(self.error_scale == 0):
            self.error_scale.copy_(error.mean())  # start at the first batch's own scale
        else:
            self.error_scale.mul_(0.99).add_(0.01 * error.mean())
        return error / self.error_scale.clamp_min(1e-8)

    def update(self, observations: torch.Tensor) -> float:
        loss = (self.predictor(observations) - self.target(observations)).pow(2).mean()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        self.optimizer.step()
        return float(loss.detach())

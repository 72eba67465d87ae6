"""Q-networks, rebuilt from the ``model_args`` stored in every checkpoint.

The live player knows nothing about the trainer: ``build_q_network(checkpoint["model_args"])``
plus ``load_state_dict`` is all it needs (nanoGPT's sample.py works the same way).
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def _hidden_stack(width: int, sizes: list[int]) -> tuple[nn.Sequential, int]:
    """Linear + ReLU layers of these sizes after an input of ``width``; (layers, out width)."""
    layers: list[nn.Module] = []
    for hidden in sizes:
        layers += [nn.Linear(width, hidden), nn.ReLU()]
        width = hidden
    return nn.Sequential(*layers), width


def _q_values(
    features: torch.Tensor, advantage_head: nn.Linear, value_head: nn.Linear | None
) -> torch.Tensor:
    """Q from the last hidden features: the advantage head alone, or dueling's
    V + A - mean(A) when a value head exists."""
    advantage = advantage_head(features)
    if value_head is None:
        return advantage
    return value_head(features) + advantage - advantage.mean(dim=-1, keepdim=True)


class MlpQNetwork(nn.Module):
    """Feed-forward Q-network for the fully observed level.

    With ``dueling`` the last hidden layer feeds a state-value head and an advantage head,
    Q = V + A - mean(A). In this world most actions are worth nearly the same (Q near 100,
    gaps near 0.1), and learning V apart from the small advantages keeps the greedy choice
    from flipping on noise.
    """

    recurrent = False

    def __init__(
        self, obs_dim: int, num_actions: int, hidden_sizes: list[int], dueling: bool = False
    ) -> None:
        super().__init__()
        self.body, width = _hidden_stack(obs_dim, hidden_sizes)
        self.dueling = dueling
        self.advantage = nn.Linear(width, num_actions)
        self.value = nn.Linear(width, 1) if dueling else None

    def forward(self, observations: torch.Tensor) -> torch.Tensor:
        return _q_values(self.body(observations), self.advantage, self.value)


class GruQNetwork(nn.Module):
    """Recurrent Q-network for the partially observed levels.

    ``hidden_sizes[0]`` is the recurrent size; any further sizes are layers of a feed-forward
    head after the GRU, and ``dueling`` splits its output as the MLP's does. Without them the
    head is one linear layer (files saved before heads existed load unchanged).

    Hidden state is the caller's: acting keeps one state per world and zeroes it when that
    world's episode ends. Replay trains on sequences that start from a zero state, warmed up
    by a burn-in prefix that carries no loss (R2D2's "zero state + burn-in"); steps after an
    episode ends inside a sequence carry no loss either, so the fused ``nn.GRU`` never has to
    reset its state mid-sequence.
    """

    recurrent = True

    def __init__(
        self, obs_dim: int, num_actions: int, hidden_sizes: list[int], dueling: bool = False
    ) -> None:
        super().__init__()
        self.hidden_size = hidden_sizes[0]
        self.encoder = nn.Sequential(nn.Linear(obs_dim, self.hidden_size), nn.ReLU())
        self.gru = nn.GRU(self.hidden_size, self.hidden_size, batch_first=True)
        self.head_body, width = _hidden_stack(self.hidden_size, hidden_sizes[1:])
        self.head = nn.Linear(width, num_actions)  # the advantage, when dueling
        self.value = nn.Linear(width, 1) if dueling else None

    def initial_state(self, batch: int, device: torch.device) -> torch.Tensor:
        return torch.zeros(batch, self.hidden_size, device=device)

    def step(
        self, observations: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """One tick for a batch of worlds: (q_values [B, A], next hidden [B, H])."""
        q_values, hidden = self(observations.unsqueeze(1), hidden)
        return q_values.squeeze(1), hidden

    def forward(
        self, observations: torch.Tensor, hidden: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """A sequence [B, T, obs] -> (q_values [B, T, A], final hidden [B, H])."""
        outputs, final = self.gru(self.encoder(observations), hidden.unsqueeze(0).contiguous())
        return _q_values(self.head_body(outputs), self.head, self.value), final.squeeze(0)


def model_args(
    kind: str, obs_dim: int, num_actions: int, hidden_sizes: list[int], dueling: bool = False
) -> dict:
    """The constructor arguments saved beside the weights."""
    args: dict[str, Any] = {
        "kind": kind,
        "obs_dim": obs_dim,
        "num_actions": num_actions,
        "hidden_sizes": list(hidden_sizes),
    }
    if kind == "mlp" or dueling:
        args["dueling"] = dueling
    return args


def build_q_network(args: dict[str, Any]) -> MlpQNetwork | GruQNetwork:
    kinds = {"mlp": MlpQNetwork, "gru": GruQNetwork}
    if args["kind"] not in kinds:
        raise ValueError(f"unknown network kind {args['kind']!r}; expected one of {sorted(kinds)}")
    if args["kind"] == "mlp":
        return MlpQNetwork(
            args["obs_dim"],
            args["num_actions"],
            list(args["hidden_sizes"]),
            dueling=bool(args.get("dueling", False)),
        )
    return GruQNetwork(
        args["obs_dim"],
        args["num_actions"],
        list(args["hidden_sizes"]),
        dueling=bool(args.get("dueling", False)),
    )

"""Greedy evaluation of a trained Q-network on fresh worlds, beside the baselines."""

from __future__ import annotations

from collections.abc import Callable

import torch

from townlet.learner.exploration import greedy_actions
from townlet.learner.networks import GruQNetwork, MlpQNetwork
from townlet.world import VectorWorld


def greedy_policy(network: MlpQNetwork | GruQNetwork) -> Callable[[VectorWorld], torch.Tensor]:
    """A policy for ``townlet.world.baselines.evaluate``: argmax Q over legal actions.

    A recurrent network keeps one hidden state per world across calls and starts each
    episode from a zero state, as in training: a world whose step counter reads 0 has just
    begun an episode (the first call, or a reset after the previous one ended), and its
    state is zeroed before the step.
    """
    hidden: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def act(world: VectorWorld) -> torch.Tensor:
        if isinstance(network, GruQNetwork):
            state = hidden.get("h")
            if state is None:
                state = network.initial_state(world.num_envs, world.device)
            else:
                state = state * (world.step_counter != 0).unsqueeze(1).to(state.dtype)
            q_values, hidden["h"] = network.step(world.observations, state)
        else:
            q_values = network(world.observations)
        return greedy_actions(q_values, world.action_masks)

    return act

"""TD targets for the recurrent learner, on sequences sampled from replay.

Sequences start from a zero state; the first ``burn_in`` steps only warm it up. A sequence
may run past the end of an episode into the next one: steps after the first end carry no
loss. At that end a death does not bootstrap, but the step cap does, as the feed-forward
learner's n-step targets do: the agent cannot see the cap coming, so treating it as death
would teach it that a long life is worth no more than the ticks left before the cap. The
bootstrap is read from the episode's own last observation, with the recurrent state that
episode built. n-step returns are not used here.
"""

from __future__ import annotations

import torch

from townlet.learner.exploration import greedy_actions
from townlet.learner.networks import GruQNetwork
from townlet.learner.replay import SequenceBatch


def recurrent_td_targets(
    batch: SequenceBatch,
    online: GruQNetwork,
    target: GruQNetwork,
    gamma: float,
    burn_in: int,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Q of the actions taken [B, L], their double-DQN targets [B, L], which steps learn
    [B, L] as 0/1). Only the first tensor carries gradients."""
    batch_size, length = batch.actions.shape
    # The input after step t is what step t led to: the next slot's observation while the
    # episode runs on, and the episode's own last observation where it ended (the next slot
    # already holds the next episode's start).
    inputs = torch.cat([batch.observations[:, :1], batch.next_observations], dim=1)
    initial = online.initial_state(batch_size, inputs.device)

    q_all, _ = online(inputs, initial)
    q_taken = q_all[:, :length].gather(2, batch.actions.unsqueeze(2)).squeeze(2)
    with torch.no_grad():
        target_all, _ = target(inputs, initial)
        next_actions = greedy_actions(q_all[:, 1:].detach(), batch.next_masks)
        next_value = target_all[:, 1:].gather(2, next_actions.unsqueeze(2)).squeeze(2)
        targets = batch.rewards + gamma * (~batch.terminated).float() * next_value
        # Learn on a step only if no episode ended before it within this sequence.
        ended_before = torch.cumsum(batch.dones.long(), dim=1) - batch.dones.long()
        learn = (ended_before == 0).float()
        learn[:, :burn_in] = 0.0
    return q_taken, targets, learn

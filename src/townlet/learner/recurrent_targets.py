"""TD targets for the recurrent learner, on sequences sampled from replay.

Sequences start from a zero state; the first ``burn_in`` steps only warm it up. A sequence
may run past the end of an episode into the next one: steps after the first end carry no
loss. At that end a death does not bootstrap, but the step cap does, as the feed-forward
learner's n-step targets do: the agent cannot see the cap coming, so treating it as death
would teach it that a long life is worth no more than the ticks left before the cap. The
bootstrap is read from the episode's own last observation, with the recurrent state that
episode built.

With ``n_step`` above 1 a step's target sums up to n rewards before it bootstraps: fewer where
its episode ends first (a death then adds nothing after its reward, the cap adds the value of
the episode's last observation) or where the sampled sequence runs out (it bootstraps from its
last step). Longer returns carry a reward back n ticks per update instead of one, which
matters where an effort pays only after several ticks (level 3's multi-tick interactions).
"""

from __future__ import annotations

import torch

from townlet.learner.exploration import gap_to_best, greedy_actions
from townlet.learner.networks import GruQNetwork
from townlet.learner.replay import SequenceBatch


def recurrent_td_targets(
    batch: SequenceBatch,
    online: GruQNetwork,
    target: GruQNetwork,
    gamma: float,
    burn_in: int,
    n_step: int = 1,
    advantage_learning: float = 0.0,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(Q of the actions taken [B, L], their double-DQN targets [B, L], which steps learn
    [B, L] as 0/1). Only the first tensor carries gradients. ``advantage_learning`` lowers
    each target by that share of how far the taken action falls below the best legal one,
    by the target network (as the feed-forward learner's)."""
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
        # What follows step t when the return stops there: nothing after a death.
        bootstrap = (~batch.terminated).float() * next_value
        targets = _n_step_targets(batch.rewards, bootstrap, batch.dones, gamma, n_step)
        if advantage_learning:
            gap = gap_to_best(target_all[:, :length], batch.masks, batch.actions)
            targets -= advantage_learning * gap
        # Learn on a step only if no episode ended before it within this sequence.
        ended_before = torch.cumsum(batch.dones.long(), dim=1) - batch.dones.long()
        learn = (ended_before == 0).float()
        learn[:, :burn_in] = 0.0
    return q_taken, targets, learn


def _n_step_targets(
    rewards: torch.Tensor,
    bootstrap: torch.Tensor,
    dones: torch.Tensor,
    gamma: float,
    n_step: int,
) -> torch.Tensor:
    """[B, L] returns of up to ``n_step`` rewards from each step, stopping after the step that
    ends an episode, at the sequence's end, or after n rewards, where ``bootstrap`` (the
    value after that step) closes it."""
    batch_size, length = rewards.shape
    pad = n_step - 1
    # Padded past the sequence's end as an ended episode, so no return runs off it.
    rewards = torch.nn.functional.pad(rewards, (0, pad))
    bootstrap = torch.nn.functional.pad(bootstrap, (0, pad))
    stops = torch.nn.functional.pad(dones, (0, pad), value=True)
    stops[:, length - 1] = True
    returns = torch.zeros(batch_size, length, device=rewards.device)
    running = torch.ones(batch_size, length, dtype=torch.bool, device=rewards.device)
    for k in range(n_step):
        discount = gamma**k
        step_rewards = rewards[:, k : k + length]
        ends_here = stops[:, k : k + length] | (k == n_step - 1)
        returns += (
            running * discount * (step_rewards + gamma * (ends_here * bootstrap[:, k : k + length]))
        )
        running = running & ~ends_here
    return returns

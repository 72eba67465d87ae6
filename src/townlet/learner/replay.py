"""Replay memory in preallocated tensors, laid out by time then world.

Slot ``t`` holds what every world did at one batched step, so a push is one contiguous copy
per field and the transitions that follow a sampled one in the same world are simply the
next slots. That makes n-step returns and the sequences the recurrent learner needs cheap
gathers instead of per-world bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass
class TransitionBatch:
    """A batch for one-step-style updates; ``discounts`` already folds in n and termination."""

    observations: torch.Tensor  # [B, D]
    masks: torch.Tensor  # [B, A] legal actions at the observation
    actions: torch.Tensor  # [B]
    returns: torch.Tensor  # [B] discounted sum of up to n rewards
    next_observations: torch.Tensor  # [B, D] observation to bootstrap from
    next_masks: torch.Tensor  # [B, A] legal actions there
    discounts: torch.Tensor  # [B] gamma**k, or 0 where the episode died


@dataclass
class SequenceBatch:
    """Consecutive transitions of one world each, for the recurrent learner."""

    observations: torch.Tensor  # [B, L, D]
    masks: torch.Tensor  # [B, L, A] legal actions at each observation
    actions: torch.Tensor  # [B, L]
    rewards: torch.Tensor  # [B, L]
    next_observations: torch.Tensor  # [B, L, D] after each step (the episode's last, at its end)
    next_masks: torch.Tensor  # [B, L, A]
    dones: torch.Tensor  # [B, L] episode ended at this step (death or cap)
    terminated: torch.Tensor  # [B, L] episode ended by death


class TimeMajorReplay:
    def __init__(
        self,
        capacity: int,
        num_envs: int,
        obs_dim: int,
        num_actions: int,
        device: torch.device,
    ) -> None:
        self.num_envs = num_envs
        self.slots = max(capacity // num_envs, 2)
        self.device = device
        shape = (self.slots, num_envs)
        self.observations = torch.zeros(*shape, obs_dim, device=device)
        self.next_observations = torch.zeros(*shape, obs_dim, device=device)
        self.actions = torch.zeros(shape, dtype=torch.long, device=device)
        self.rewards = torch.zeros(shape, device=device)
        self.terminated = torch.zeros(shape, dtype=torch.bool, device=device)
        self.dones = torch.zeros(shape, dtype=torch.bool, device=device)
        self.masks = torch.zeros(*shape, num_actions, dtype=torch.bool, device=device)
        self.next_masks = torch.zeros(*shape, num_actions, dtype=torch.bool, device=device)
        self.cursor = 0  # next slot to write
        self.filled = 0  # slots holding data

    def __len__(self) -> int:
        return self.filled * self.num_envs

    def push(
        self,
        observations: torch.Tensor,
        masks: torch.Tensor,
        actions: torch.Tensor,
        rewards: torch.Tensor,
        next_observations: torch.Tensor,
        next_masks: torch.Tensor,
        terminated: torch.Tensor,
        dones: torch.Tensor,
    ) -> None:
        slot = self.cursor
        self.observations[slot].copy_(observations)
        self.masks[slot].copy_(masks)
        self.actions[slot].copy_(actions)
        self.rewards[slot].copy_(rewards)
        self.next_observations[slot].copy_(next_observations)
        self.next_masks[slot].copy_(next_masks)
        self.terminated[slot].copy_(terminated)
        self.dones[slot].copy_(dones)
        self.cursor = (slot + 1) % self.slots
        self.filled = min(self.filled + 1, self.slots)

    def _sample_starts(
        self, batch_size: int, span: int, generator: torch.Generator
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Random (slot, env) pairs whose next ``span`` slots are all written, oldest first."""
        usable = self.filled - span + 1
        if usable < 1:
            raise ValueError(f"replay holds {self.filled} slots, need at least {span}")
        oldest = (self.cursor - self.filled) % self.slots
        offsets = torch.randint(usable, (batch_size,), generator=generator, device=self.device)
        envs = torch.randint(self.num_envs, (batch_size,), generator=generator, device=self.device)
        return (oldest + offsets) % self.slots, envs

    def _flat(self, slots: torch.Tensor, envs: torch.Tensor) -> torch.Tensor:
        return slots * self.num_envs + envs

    def sample(
        self, batch_size: int, n_step: int, gamma: float, generator: torch.Generator
    ) -> TransitionBatch:
        slots, envs = self._sample_starts(batch_size, n_step, generator)
        first = self._flat(slots, envs)
        observations = self.observations.flatten(0, 1).index_select(0, first)
        actions = self.actions.flatten().index_select(0, first)

        returns = torch.zeros(batch_size, device=self.device)
        still_running = torch.ones(batch_size, device=self.device)
        discounts = torch.ones(batch_size, device=self.device)
        bootstrap_index = first
        terminated = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
        for k in range(n_step):
            index = self._flat((slots + k) % self.slots, envs)
            returns += still_running * discounts * self.rewards.flatten().index_select(0, index)
            # Where the episode is still running, step k decides where we bootstrap from.
            running = still_running.bool()
            bootstrap_index = torch.where(running, index, bootstrap_index)
            terminated |= running & self.terminated.flatten().index_select(0, index)
            discounts = torch.where(running, discounts * gamma, discounts)
            still_running = still_running * (~self.dones.flatten().index_select(0, index)).float()

        return TransitionBatch(
            observations=observations,
            masks=self.masks.flatten(0, 1).index_select(0, first),
            actions=actions,
            returns=returns,
            next_observations=self.next_observations.flatten(0, 1).index_select(0, bootstrap_index),
            next_masks=self.next_masks.flatten(0, 1).index_select(0, bootstrap_index),
            discounts=discounts * (~terminated).float(),
        )

    def sample_sequences(
        self, batch_size: int, length: int, generator: torch.Generator
    ) -> SequenceBatch:
        slots, envs = self._sample_starts(batch_size, length, generator)
        steps = torch.arange(length, device=self.device)
        index = self._flat((slots.unsqueeze(1) + steps) % self.slots, envs.unsqueeze(1))  # [B, L]
        flat_index = index.flatten()

        def gather(field: torch.Tensor) -> torch.Tensor:
            rows = field.flatten(0, 1).index_select(0, flat_index)
            return rows.view(batch_size, length, *field.shape[2:])

        return SequenceBatch(
            observations=gather(self.observations),
            masks=gather(self.masks),
            actions=gather(self.actions),
            rewards=gather(self.rewards),
            next_observations=gather(self.next_observations),
            next_masks=gather(self.next_masks),
            dones=gather(self.dones),
            terminated=gather(self.terminated),
        )

    def state_dict(self) -> dict[str, torch.Tensor | int]:
        return {
            "observations": self.observations,
            "next_observations": self.next_observations,
            "actions": self.actions,
            "rewards": self.rewards,
            "terminated": self.terminated,
            "dones": self.dones,
            "masks": self.masks,
            "next_masks": self.next_masks,
            "cursor": self.cursor,
            "filled": self.filled,
        }

    def load_state_dict(self, state: dict) -> None:
        for name in (
            "observations",
            "next_observations",
            "actions",
            "rewards",
            "terminated",
            "dones",
            "next_masks",
        ):
            getattr(self, name).copy_(state[name])
        if "masks" in state:
            self.masks.copy_(state["masks"])
        else:
            # A replay saved before masks were kept: every action counts as legal there,
            # which only advantage learning reads (its state value then spans all actions).
            self.masks.fill_(True)
        self.cursor = int(state["cursor"])
        self.filled = int(state["filled"])

"""Plays the newest checkpoint greedily in a world of its own, one tick at a time.

The player rebuilds the network from the checkpoint alone (model arguments + weights) and
switches to a newer checkpoint only between episodes, so every live episode is played by
exactly one policy and its survival can be attributed to that checkpoint.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from townlet.checkpoints import CheckpointError, find_latest_checkpoint, load_checkpoint
from townlet.config import TownletConfig
from townlet.learner.exploration import greedy_actions
from townlet.learner.networks import GruQNetwork, MlpQNetwork, build_q_network
from townlet.live.protocol import (
    AffordancePlacement,
    EpisodeEnd,
    EpisodeStart,
    GridSize,
    Hello,
    ModelLoaded,
    State,
)
from townlet.world import ACTION_NAMES, METER_NAMES, DeathCause, VectorWorld

log = logging.getLogger("townlet.inference")


@dataclass
class LoadedPolicy:
    network: MlpQNetwork | GruQNetwork
    announcement: ModelLoaded
    path: Path


def read_policy(path: Path, obs_dim: int) -> LoadedPolicy:
    """Load a checkpoint into a fresh network; runs in a worker thread (disk + unpickling)."""
    checkpoint = load_checkpoint(path, map_location="cpu")
    args = checkpoint["model_args"]
    if args["obs_dim"] != obs_dim:
        raise CheckpointError(
            f"{path.name} expects {args['obs_dim']} observation features but this config's "
            f"world gives {obs_dim}: it belongs to another level or layout"
        )
    network = build_q_network(args)
    network.load_state_dict(checkpoint["online"])
    network.eval()
    counters = checkpoint["counters"]
    return LoadedPolicy(
        network=network,
        path=path,
        announcement=ModelLoaded(
            checkpoint=path.name,
            episode=int(counters["episode"]),
            env_step=int(counters["env_step"]),
            saved_at=str(checkpoint.get("saved_at", "")),
            untrained=int(counters["update_step"]) == 0,
        ),
    )


class LivePlayer:
    def __init__(self, config: TownletConfig, checkpoint_dir: Path, seed: int = 12345) -> None:
        self.config = config
        self.checkpoint_dir = checkpoint_dir
        self.seed = seed
        self.world = VectorWorld(config.world, config.reward, 1, device="cpu", seed=seed)
        self.policy: LoadedPolicy | None = None
        self.pending: LoadedPolicy | None = None
        self.episode = 0
        self.episode_return = 0.0
        self.hidden: torch.Tensor | None = None
        self._episode_open = False

    # --------------------------------------------------------------- models
    def newer_checkpoint(self) -> Path | None:
        """The newest checkpoint on disk if it is not already playing or queued."""
        latest = find_latest_checkpoint(self.checkpoint_dir)
        known = {p.path for p in (self.policy, self.pending) if p is not None}
        return latest if latest is not None and latest not in known else None

    def offer(self, policy: LoadedPolicy) -> ModelLoaded | None:
        """Queue a freshly read policy; it plays from the next episode (at once if none yet)."""
        if self.policy is None:
            self._activate(policy)
            return policy.announcement
        self.pending = policy
        return None

    def _activate(self, policy: LoadedPolicy) -> None:
        self.policy, self.pending = policy, None
        log.info(
            "playing %s (training episode %d, env step %d)",
            policy.path.name,
            policy.announcement.episode,
            policy.announcement.env_step,
        )

    @property
    def ready(self) -> bool:
        return self.policy is not None

    # --------------------------------------------------------------- playing
    def hello(self, steps_per_second: float) -> Hello:
        world = self.config.world
        return Hello(
            config_name=self.config.name,
            level=_level_label(self.config),
            grid=GridSize(width=world.width, height=world.height),
            affordances=self._layout(),
            meters=list(METER_NAMES),
            actions=list(ACTION_NAMES),
            steps_per_second=steps_per_second,
            step_cap=world.step_cap,
            temporal=world.temporal,
            observability=world.observability,
            vision_window=world.vision_window,
        )

    def _layout(self) -> list[AffordancePlacement]:
        return [AffordancePlacement(name=n, x=x, y=y) for n, x, y in self.world.layout(0)]

    @torch.no_grad()
    def tick(self) -> list:
        """Advance live play by one step; returns the messages that describe it."""
        assert self.policy is not None, "tick() before any checkpoint was offered"
        messages: list = []
        if not self._episode_open:
            if self.pending is not None:
                self._activate(self.pending)
                messages.append(self.policy.announcement)
            self.episode += 1
            self.world.reset(seed=self.seed + self.episode)
            self.episode_return = 0.0
            network = self.policy.network
            self.hidden = (
                network.initial_state(1, torch.device("cpu")) if network.recurrent else None
            )
            self._episode_open = True
            messages.append(EpisodeStart(episode=self.episode, affordances=self._layout()))

        world = self.world
        masks = world.action_masks.clone()
        network = self.policy.network
        if isinstance(network, GruQNetwork):
            q_values, self.hidden = network.step(world.observations, self.hidden)
        else:
            q_values = network(world.observations)
        action = greedy_actions(q_values, masks)
        result = world.step(action)
        reward = float(result.rewards[0])
        self.episode_return += reward
        done = bool(result.dones[0])
        snapshot = world.last_snapshot(0)
        messages.append(
            State(
                episode=self.episode,
                step=snapshot["step"],
                x=snapshot["x"],
                y=snapshot["y"],
                meters=snapshot["meters"],
                action=ACTION_NAMES[int(action[0])],
                q_values=[round(v, 4) for v in q_values[0].tolist()],
                action_mask=masks[0].tolist(),
                reward=round(reward, 5),
                done=done,
                standing_on=snapshot["standing_on"],
                time_of_day=snapshot["time_of_day"],
                interaction_progress=snapshot["interaction_progress"],
            )
        )
        if done:
            cause = DeathCause(int(result.death_causes[0]))
            messages.append(
                EpisodeEnd(
                    episode=self.episode,
                    steps=int(result.episode_lengths[0]),
                    return_=round(float(result.episode_returns[0]), 4),
                    cause=cause.name.lower(),
                )
            )
            self._episode_open = False
        return messages


def _level_label(config: TownletConfig) -> str:
    world = config.world
    if world.temporal:
        return "temporal (partial observability, opening hours, multi-tick actions)"
    if world.observability == "partial":
        return "partial observability"
    return "full observability"

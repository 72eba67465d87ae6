"""Plays the newest checkpoint greedily in a world of its own, one tick at a time.

The player rebuilds the network from the checkpoint alone (model arguments + weights) and
switches to a newer checkpoint only between episodes, so every live episode is played by
exactly one policy and its survival can be attributed to that checkpoint.

Which checkpoint is "newest" is the ``CheckpointCatalog``'s answer: a file that does not read
(damaged, foreign, another level) is reported once, remembered and stepped over, so live play
keeps following training. The file being played is pinned in the catalog; when the trainer
shares it, pruning leaves that file alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import torch

from townlet.checkpoints import (
    CheckpointCatalog,
    CheckpointError,
    CheckpointMissingError,
    RejectedCheckpoint,
    checkpoint_order,
    played_weights,
)
from townlet.config import TownletConfig
from townlet.config.models import MAX_STEPS_PER_SECOND, MIN_STEPS_PER_SECOND, MONEY_SCALE
from townlet.learner.exploration import greedy_actions
from townlet.learner.networks import GruQNetwork, MlpQNetwork, build_q_network
from townlet.live.protocol import (
    AffordancePlacement,
    EpisodeEnd,
    EpisodeStart,
    EvaluationFacts,
    GridSize,
    Hello,
    Message,
    MeterFact,
    ModelLoaded,
    SpeedRange,
    State,
    WorldFacts,
)
from townlet.world import ACTION_NAMES, METER_NAMES, DeathCause, VectorWorld

log = logging.getLogger("townlet.inference")

# Pin holders in the catalog, per player ("live", "compare-left", ...): the file playing, the
# one queued for the next episode, the one being read right now (so pruning cannot pull it away
# half-way).
PLAYING, QUEUED, READING = "", "-queued", "-reading"


@dataclass
class LoadedPolicy:
    network: MlpQNetwork | GruQNetwork
    announcement: ModelLoaded
    path: Path


def policy_from_checkpoint(path: Path, checkpoint: dict, obs_dim: int) -> LoadedPolicy:
    """Rebuild the network a loaded checkpoint describes; CheckpointError if it cannot be."""
    args = checkpoint["model_args"]
    if args["obs_dim"] != obs_dim:
        raise CheckpointError(
            f"{path.name} expects {args['obs_dim']} observation features but this config's "
            f"world gives {obs_dim}: it belongs to another level or layout"
        )
    try:
        network = build_q_network(args)
        network.load_state_dict(played_weights(checkpoint))
        counters = checkpoint["counters"]
        episode, env_step = int(counters["episode"]), int(counters["env_step"])
        untrained = int(counters["update_step"]) == 0
    except (KeyError, TypeError, ValueError, RuntimeError) as error:
        raise CheckpointError(
            f"{path.name} does not describe a network this Townlet can rebuild "
            f"({type(error).__name__}: {error})"
        ) from error
    network.eval()
    return LoadedPolicy(
        network=network,
        path=path,
        announcement=ModelLoaded(
            checkpoint=path.name,
            episode=episode,
            env_step=env_step,
            saved_at=str(checkpoint.get("saved_at", "")),
            untrained=untrained,
        ),
    )


class LivePlayer:
    def __init__(
        self,
        config: TownletConfig,
        checkpoint_dir: Path,
        seed: int = 12345,
        catalog: CheckpointCatalog | None = None,
        name: str = "live",
    ) -> None:
        """``catalog``: the trainer's, when it runs in this process; else one of our own.
        ``name``: this player's pins in the catalog (two players must not share one)."""
        self.config = config
        self.name = name
        self.checkpoint_dir = checkpoint_dir
        self.seed = seed
        self.world = VectorWorld(config.world, config.reward, 1, device="cpu", seed=seed)
        if catalog is not None and catalog.directory != checkpoint_dir:
            raise ValueError(f"catalog of {catalog.directory} given for {checkpoint_dir}")
        self.catalog = catalog or CheckpointCatalog(checkpoint_dir, self.world.obs_dim)
        self.policy: LoadedPolicy | None = None
        self.pending: LoadedPolicy | None = None
        self._newest_offered: Path | None = None
        self.episode = 0
        self.episode_return = 0.0
        self.hidden: torch.Tensor | None = None
        self._episode_open = False
        self._current_q = torch.zeros(1, len(ACTION_NAMES))
        self._current_mask = torch.ones(1, len(ACTION_NAMES), dtype=torch.bool)

    # --------------------------------------------------------------- models
    def latest_checkpoint(self) -> Path | None:
        """What the status line calls the latest checkpoint: the newest one known to read."""
        newest = self.catalog.newest(verified=True)
        playing = self.policy.path if self.policy is not None else None
        if newest is None or (playing is not None and not self._is_newer(newest, playing)):
            return playing
        return newest

    def find_newer_policy(self) -> LoadedPolicy | None:
        """Read the newest checkpoint that reads, if it is newer than what plays or waits.

        Blocking (disk + unpickling): run it in a worker thread. Files that do not read are
        warned about once each and stepped over, down to the next newest.
        """
        for path in reversed(self.catalog.candidates()):
            if not self._is_newer(path):
                return None
            self._pin(READING, path)
            try:
                policy = self._read(path)
                # Held until offer() moves it: the caller offers what this returns.
                self._pin(QUEUED, path)
                return policy
            except CheckpointMissingError:
                continue  # pruned between listing and reading: the newer one is listed next time
            except RejectedCheckpoint as rejection:
                if rejection.first_time:
                    log.warning(
                        "skipping checkpoint: %s; playing the newest one that reads instead "
                        "(this file is tried again only if it changes)",
                        rejection.reason,
                    )
            finally:
                self.catalog.unpin(self.name + READING)
        return None

    def read_named(self, name: str) -> LoadedPolicy:
        """Read the checkpoint called ``name``, which must be one of this run's readable files.

        Blocking (disk): run it in a worker thread. Only names in the catalog's own listing
        are looked up, so a client cannot name anything outside the checkpoint folder.
        Raises CheckpointError with a reason a user can act on.
        """
        path = next((p for p in self.catalog.candidates() if p.name == name), None)
        if path is None:
            raise CheckpointError(f"no checkpoint named {name!r} in this run (it may be pruned)")
        self._pin(READING, path)
        try:
            policy = self._read(path)
        except RejectedCheckpoint as rejection:
            raise CheckpointError(rejection.reason) from rejection
        finally:
            self.catalog.unpin(self.name + READING)
        self._pin(QUEUED, path)
        return policy

    def _pin(self, role: str, path: Path) -> None:
        self.catalog.pin(self.name + role, path)

    def release(self) -> None:
        """Drop every pin this player holds (it is being discarded)."""
        for role in (PLAYING, QUEUED, READING):
            self.catalog.unpin(self.name + role)

    def _read(self, path: Path) -> LoadedPolicy:
        checkpoint = self.catalog.read(path)
        try:
            return policy_from_checkpoint(path, checkpoint, self.world.obs_dim)
        except CheckpointError as error:
            # Read fine but cannot play here (a catalog shared without obs_dim): same verdict.
            first_time = self.catalog.reject(path, str(error))
            raise RejectedCheckpoint(path, str(error), first_time) from error

    def _is_newer(self, path: Path, than: Path | None = None) -> bool:
        """Later in training order than ``than`` (default: the newest policy offered)."""
        # One attribute read: find_newer_policy runs in a worker thread while offer() and
        # _activate() run on the event loop.
        floor = than if than is not None else self._newest_offered
        order = checkpoint_order(path)
        known = checkpoint_order(floor) if floor is not None else None
        return order is not None and (known is None or order > known)

    def offer(self, policy: LoadedPolicy) -> ModelLoaded | None:
        """Queue a freshly read policy; it plays from the next episode (at once if none yet)."""
        self._newest_offered = policy.path
        if self.policy is None:
            self._activate(policy)
            return policy.announcement
        self.pending = policy
        self._pin(QUEUED, policy.path)
        return None

    def switch_now(self, policy: LoadedPolicy) -> ModelLoaded:
        """Play ``policy`` from now on: the running episode is cut short and a new one starts."""
        self._newest_offered = policy.path
        self._activate(policy)
        self._episode_open = False
        return policy.announcement

    def _activate(self, policy: LoadedPolicy) -> None:
        self.policy, self.pending = policy, None
        self._pin(PLAYING, policy.path)
        self.catalog.unpin(self.name + QUEUED)
        log.info(
            "playing %s (training episode %d, env step %d)",
            policy.path.name,
            policy.announcement.episode,
            policy.announcement.env_step,
        )

    @property
    def ready(self) -> bool:
        return self.policy is not None

    @property
    def episode_open(self) -> bool:
        """An episode is under way (False before the first and after one ends)."""
        return self._episode_open

    # --------------------------------------------------------------- playing
    def hello(
        self, steps_per_second: float, history_length: int, tensorboard_url: str | None = None
    ) -> Hello:
        world = self.config.world
        return Hello(
            config_name=self.config.name,
            level=_level_label(self.config),
            grid=GridSize(width=world.width, height=world.height),
            affordances=self.layout(),
            meters=list(METER_NAMES),
            actions=list(ACTION_NAMES),
            steps_per_second=steps_per_second,
            step_cap=world.step_cap,
            temporal=world.temporal,
            observability=world.observability,
            vision_window=world.vision_window,
            world=self.world_facts(history_length),
            tensorboard_url=tensorboard_url,
        )

    def world_facts(self, history_length: int) -> WorldFacts:
        """The rules the page shows (meter roles, thresholds), read from this config."""
        world, evaluation = self.config.world, self.config.evaluation
        sources = {cascade.source for cascade in world.cascades}
        return WorldFacts(
            meters=[
                MeterFact(
                    name=name, terminal=world.meters[name].terminal, cascade_source=name in sources
                )
                for name in METER_NAMES
            ],
            cascade_threshold=world.cascade_threshold,
            money_scale=MONEY_SCALE,
            speed_range=SpeedRange(min=MIN_STEPS_PER_SECOND, max=MAX_STEPS_PER_SECOND),
            history_length=history_length,
            evaluation=EvaluationFacts(
                worlds=evaluation.worlds, step_cap=evaluation.step_cap or world.step_cap
            ),
        )

    def layout(self) -> list[AffordancePlacement]:
        return [AffordancePlacement(name=n, x=x, y=y) for n, x, y in self.world.layout(0)]

    @torch.no_grad()
    def _q_values(self, observations: torch.Tensor) -> torch.Tensor:
        """Q-values of the current state; a recurrent policy advances its memory by one tick."""
        assert self.policy is not None
        network = self.policy.network
        if isinstance(network, GruQNetwork):
            q_values, self.hidden = network.step(observations, self.hidden)
            return q_values
        return network(observations)

    def _start_episode(self) -> list[Message]:
        assert self.policy is not None
        messages: list[Message] = []
        if self.pending is not None:
            self._activate(self.pending)
            messages.append(self.policy.announcement)
        self.episode += 1
        self.world.reset(seed=self.seed + self.episode)
        self.episode_return = 0.0
        network = self.policy.network
        self.hidden = network.initial_state(1, torch.device("cpu")) if network.recurrent else None
        self._episode_open = True
        messages.append(EpisodeStart(episode=self.episode, affordances=self.layout()))
        self._current_q = self._q_values(self.world.observations)
        self._current_mask = self.world.action_masks.clone()
        messages.append(self._state(self.world.snapshot(0), action=None, reward=0.0, done=False))
        return messages

    def tick(self) -> list[Message]:
        """Advance live play by one step; returns the messages that describe it.

        Each ``state`` carries the Q-values and legal actions of the state it describes: what
        the agent chooses its next action from. Step 0 of an episode has no action yet.
        """
        if self.policy is None:
            raise RuntimeError("tick() before any checkpoint was offered")
        if not self._episode_open:
            return self._start_episode()

        world = self.world
        action = greedy_actions(self._current_q, self._current_mask)
        result = world.step(action)
        reward = float(result.rewards[0])
        self.episode_return += reward
        done = bool(result.dones[0])
        if done:
            # The world has already reset itself; describe the state the episode ended in.
            snapshot = world.last_snapshot(0)
            self._current_q = self._q_values(world.next_observations)
            self._current_mask = world.next_action_masks.clone()
        else:
            snapshot = world.snapshot(0)
            self._current_q = self._q_values(world.observations)
            self._current_mask = world.action_masks.clone()
        messages: list[Message] = [
            self._state(snapshot, action=ACTION_NAMES[int(action[0])], reward=reward, done=done)
        ]
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

    def _state(self, snapshot: dict, action: str | None, reward: float, done: bool) -> State:
        return State(
            episode=self.episode,
            step=snapshot["step"],
            x=snapshot["x"],
            y=snapshot["y"],
            meters={name: round(value, 5) for name, value in snapshot["meters"].items()},
            action=action,
            q_values=[round(v, 4) for v in self._current_q[0].tolist()],
            action_mask=self._current_mask[0].tolist(),
            reward=round(reward, 5),
            done=done,
            standing_on=snapshot["standing_on"],
            time_of_day=snapshot["time_of_day"],
            interaction_progress=snapshot["interaction_progress"],
        )


def _level_label(config: TownletConfig) -> str:
    """The WORLD.md level this config's world corresponds to (the page shows it as a badge)."""
    world = config.world
    if world.temporal:
        return "Level 3"
    return "Level 2" if world.observability == "partial" else "Level 1"

"""Double DQN over N vectorised worlds.

One batched step is ``collect()`` (every world acts once, transitions go to replay) followed
by as many ``update()`` calls as ``updates_per_step`` has accrued. ``run()`` is the loop the
training thread drives: it checks the stop Event once per batched step, checkpoints every K
episodes or T seconds, and saves once more on the way out. A save that fails (a full disk)
costs a warning, not the run: training goes on and the save is retried every 30 s.
"""

from __future__ import annotations

import copy
import logging
import random
import threading
import time
import uuid
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.tensorboard import SummaryWriter

from townlet.checkpoints import (
    CheckpointCatalog,
    checkpoint_name,
    describe_save_error,
    played_weights,
    save_checkpoint,
)
from townlet.config import TownletConfig, config_to_dict
from townlet.learner.curriculum import Curriculum
from townlet.learner.exploration import LinearEpsilon, gap_to_best, greedy_actions
from townlet.learner.networks import GruQNetwork, build_q_network, model_args
from townlet.learner.recurrent_targets import recurrent_td_targets
from townlet.learner.replay import TimeMajorReplay, TransitionBatch
from townlet.learner.rnd import RandomNetworkDistillation
from townlet.run_records import MetricPoint, RecordLog
from townlet.world import VectorWorld
from townlet.world.baselines import RandomLegalActions

log = logging.getLogger("townlet.training")

SAVE_RETRY_SECONDS = 30.0


@dataclass(frozen=True)
class TrainingProgress:
    """A copy of where training stands, safe to hand to other threads."""

    episode: int
    env_step: int
    epsilon: float
    steps_per_second: float
    recent_mean_survival: float | None
    curriculum_stage: int | None
    running: bool
    paused: bool = False
    update_step: int = 0  # gradient updates so far (the Prometheus counter townlet_updates)


@dataclass(frozen=True)
class FinalSave:
    """How the save on the way out went, for the orchestrator's last words and exit code."""

    path: Path | None  # the checkpoint written on the way out; None when that save failed
    error: str | None  # why it failed ("no space left on device (84 KB free)")
    newest_saved: Path | None  # the newest checkpoint known to be on disk and readable


class DQNTrainer:
    def __init__(
        self,
        config: TownletConfig,
        device: torch.device,
        checkpoint_dir: Path,
        writer: SummaryWriter | None = None,
        catalog: CheckpointCatalog | None = None,
        metrics: RecordLog[MetricPoint] | None = None,
        save_at_env_steps: Sequence[int] = (),
    ) -> None:
        """``catalog``: share the live player's, so its pins hold; by default one of our own.
        ``metrics``: where each reporting window's figures go (the page's training charts).
        ``save_at_env_steps``: also save at the first batched step at or past each of these
        env steps, and keep those files (a sweep compares its seeds at the same env steps)."""
        self.config = config
        self.settings = config.training
        self.device = device
        self.checkpoint_dir = checkpoint_dir
        self.writer = writer
        self.metrics = metrics
        settings = self.settings

        # Seed everything first so network initialisation is reproducible too.
        random.seed(config.seed)
        np.random.seed(config.seed)
        torch.manual_seed(config.seed)
        self.generator = torch.Generator(device=device)
        self.generator.manual_seed(config.seed + 1)

        self.world = VectorWorld(
            config.world, config.reward, settings.num_envs, device=device, seed=config.seed
        )
        self.model_args = model_args(
            settings.network.kind,
            self.world.obs_dim,
            self.world.num_actions,
            list(settings.network.hidden_sizes),
            dueling=settings.network.dueling,
        )
        self.online = build_q_network(self.model_args).to(device)
        self.target = copy.deepcopy(self.online).requires_grad_(False)
        # What checkpoints hold to be played: the online weights averaged over updates, or
        # the online network itself when the config averages nothing.
        self.policy = (
            copy.deepcopy(self.online).requires_grad_(False)
            if settings.policy_average_decay > 0
            else self.online
        )
        self._averaged = (list(self.policy.parameters()), list(self.online.parameters()))
        # Built once: the Polyak update runs after every gradient step.
        self._polyak_pairs = (list(self.target.parameters()), list(self.online.parameters()))
        # The fused kernel steps all parameters at once: ~6x cheaper than the default per
        # parameter loop on CPU, where the update is most of a batched step's cost.
        self.optimizer = torch.optim.Adam(
            self.online.parameters(), lr=settings.learning_rate, fused=True
        )
        self.recurrent = isinstance(self.online, GruQNetwork)
        self.hidden = (
            self.online.initial_state(settings.num_envs, device) if self.recurrent else None
        )
        self.replay = TimeMajorReplay(
            settings.replay_capacity,
            settings.num_envs,
            self.world.obs_dim,
            self.world.num_actions,
            device,
        )
        self.epsilon_schedule = LinearEpsilon(
            settings.epsilon.start, settings.epsilon.end, settings.epsilon.decay_steps
        )
        self.random_actions = RandomLegalActions(self.world, generator=self.generator)
        self.curriculum = (
            Curriculum(settings.curriculum, config.world.step_cap)
            if settings.curriculum.enabled
            else None
        )
        if self.curriculum is not None:
            self.curriculum.apply(self.world)
        self.rnd = (
            RandomNetworkDistillation(self.world.obs_dim, settings.rnd.learning_rate).to(device)
            if settings.rnd.enabled
            else None
        )

        # Counters: these are what a resumed run continues from.
        self.episode = 0
        self.env_step = 0
        self.update_step = 0
        self.update_credit = 0.0
        self.recent_survival: deque[int] = deque(maxlen=256)

        self._observations_before = torch.zeros_like(self.world.observations)
        self._masks_before = torch.zeros_like(self.world.action_masks)
        self._window = _LogWindow()
        self._progress_lock = threading.Lock()
        self._progress = self._snapshot(steps_per_second=0.0, running=False)
        # Set by pause() from any thread; the loop parks between steps until resume().
        self._pause_requested = threading.Event()
        self._wake = threading.Event()
        self._open_checkpoint_folder(catalog)
        self._save_at = sorted({int(step) for step in save_at_env_steps if step > 0})

    # ----------------------------------------------------------------- acting
    @property
    def epsilon(self) -> float:
        return self.epsilon_schedule(self.env_step)

    @torch.no_grad()
    def collect(self) -> None:
        """Every world takes one epsilon-greedy step; the transitions enter replay."""
        world = self.world
        # The world rewrites its observations and masks in place as it steps.
        self._observations_before.copy_(world.observations)
        masks = self._masks_before
        masks.copy_(world.action_masks)
        if self.recurrent:
            q_values, self.hidden = self.online.step(world.observations, self.hidden)
        else:
            q_values = self.online(world.observations)
        greedy = greedy_actions(q_values, masks)
        explore = torch.rand(world.num_envs, generator=self.generator, device=self.device)
        actions = torch.where(explore < self.epsilon, self.random_actions(world), greedy)

        result = world.step(actions)
        rewards = result.rewards
        if self.rnd is not None:
            # Added here and only here, so each transition carries its bonus exactly once.
            rewards = rewards + self._rnd_coefficient() * self.rnd.bonus(world.next_observations)
        self.replay.push(
            self._observations_before,
            masks,
            actions,
            rewards,
            world.next_observations,
            world.next_action_masks,
            result.terminated,
            result.dones,
        )
        self.env_step += world.num_envs

        finished = int(result.dones.sum())
        if finished:
            done_index = result.dones.nonzero().squeeze(1)
            lengths = result.episode_lengths.index_select(0, done_index).tolist()
            returns = result.episode_returns.index_select(0, done_index).tolist()
            self.episode += finished
            self.recent_survival.extend(lengths)
            self._window.add_episodes(lengths, returns)
            if self.hidden is not None:
                self.hidden.mul_((~result.dones).unsqueeze(1).float())
            if self.curriculum is not None and self.curriculum.record(lengths):
                self.curriculum.apply(world)
                log.info("curriculum moved to stage %d", self.curriculum.stage)

    def _rnd_coefficient(self) -> float:
        settings = self.settings.rnd
        survival = self.recent_mean_survival() or 0.0
        return settings.coefficient * max(0.0, 1.0 - survival / settings.anneal_survival)

    # --------------------------------------------------------------- learning
    def ready_to_learn(self) -> bool:
        span = self.settings.sequence_length + self.settings.burn_in if self.recurrent else 1
        return (
            len(self.replay) >= self.settings.learning_starts
            and self.replay.filled >= span + self.settings.n_step
        )

    @property
    def learning_rate(self) -> float:
        """Linear decay from ``learning_rate`` to ``learning_rate_end`` over env steps."""
        settings = self.settings
        if settings.learning_rate_end is None or settings.learning_rate_decay_steps == 0:
            return settings.learning_rate
        fraction = min(self.env_step / settings.learning_rate_decay_steps, 1.0)
        return settings.learning_rate + fraction * (
            settings.learning_rate_end - settings.learning_rate
        )

    def update(self) -> float:
        learning_rate = self.learning_rate
        for group in self.optimizer.param_groups:
            group["lr"] = learning_rate
        loss = self._recurrent_loss() if self.recurrent else self._feed_forward_loss()
        self.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(
            self.online.parameters(), self.settings.max_grad_norm, foreach=True
        )
        self.optimizer.step()
        self._average_policy()
        self.update_step += 1
        if self.settings.target_update_tau:
            with torch.no_grad():
                target, online = self._polyak_pairs
                torch._foreach_lerp_(target, online, self.settings.target_update_tau)
        elif self.update_step % self.settings.target_update_interval == 0:
            self.target.load_state_dict(self.online.state_dict())
        if self.rnd is not None:
            sample = self.replay.sample(self.settings.batch_size, 1, 1.0, self.generator)
            self.rnd.update(sample.next_observations)
        value = float(loss.detach())
        self._window.add_loss(value)
        return value

    @torch.no_grad()
    def _average_policy(self) -> None:
        if self.policy is self.online:
            return
        settings = self.settings
        share = 1.0 - settings.policy_average_decay
        if settings.policy_average_follows_learning_rate:
            share *= self.learning_rate / settings.learning_rate
        policy, online = self._averaged
        # One fused op for every tensor: a few microseconds next to the update it follows.
        torch._foreach_lerp_(policy, online, share)

    def _feed_forward_loss(self) -> torch.Tensor:
        settings = self.settings
        batch = self.replay.sample(
            settings.batch_size, settings.n_step, settings.gamma, self.generator
        )
        q_taken = self.online(batch.observations).gather(1, batch.actions.unsqueeze(1)).squeeze(1)
        targets = self._feed_forward_targets(batch)
        return F.huber_loss(q_taken, targets, delta=settings.huber_delta)

    @torch.no_grad()
    def _feed_forward_targets(self, batch: TransitionBatch) -> torch.Tensor:
        settings = self.settings
        # Double DQN: the online net picks the next action, the target net values it.
        if settings.double_dqn:
            next_actions = greedy_actions(self.online(batch.next_observations), batch.next_masks)
            next_q = self.target(batch.next_observations)
        else:
            next_q = self.target(batch.next_observations)
            next_actions = greedy_actions(next_q, batch.next_masks)
        next_value = next_q.gather(1, next_actions.unsqueeze(1)).squeeze(1)
        targets = batch.returns + batch.discounts * next_value
        if settings.advantage_learning:
            targets -= settings.advantage_learning * self._target_advantage_gap(batch)
        return targets

    @torch.no_grad()
    def _target_advantage_gap(self, batch: TransitionBatch) -> torch.Tensor:
        """How far below the best legal action the taken one is, by the target network.

        Advantage learning (Bellemare et al., 2016) subtracts a share of this from each
        target, so actions that are not best are pushed down by a margin instead of tying with
        the best. Most states here have many near-equal actions, and the greedy choice among
        ties flipped from snapshot to snapshot; at alpha 0.9 it stalled learning instead
        (benchmarks/results/level_1_dip_screens.md), so it is off by default."""
        return gap_to_best(self.target(batch.observations), batch.masks, batch.actions)

    def _recurrent_loss(self) -> torch.Tensor:
        settings = self.settings
        length = settings.burn_in + settings.sequence_length
        batch = self.replay.sample_sequences(settings.batch_size, length, self.generator)
        q_taken, targets, learn = recurrent_td_targets(
            batch,
            self.online,  # type: ignore[arg-type]
            self.target,  # type: ignore[arg-type]
            settings.gamma,
            settings.burn_in,
            settings.n_step,
            settings.advantage_learning,
        )
        losses = F.huber_loss(q_taken, targets, delta=settings.huber_delta, reduction="none")
        return (losses * learn).sum() / learn.sum().clamp_min(1.0)

    # -------------------------------------------------------------- the loop
    def finished(self) -> bool:
        total = self.settings.total_episodes
        return total is not None and self.episode >= total

    def train_step(self) -> None:
        """One batched step: collect, then the updates ``updates_per_step`` has accrued."""
        self.collect()
        if self.ready_to_learn():
            self.update_credit += self.settings.updates_per_step
            while self.update_credit >= 1.0:
                self.update()
                self.update_credit -= 1.0

    def run(self, stop: threading.Event) -> FinalSave:
        """Train until ``stop`` is set or the episode budget is spent; then save once more."""
        first = self._save_or_warn()
        if first is not None:
            log.info("checkpoint written: %s", first.name)
        last_save_time, last_save_episode = time.monotonic(), self.episode
        self._window = _LogWindow(self.env_step)  # rates count from here, not from __init__
        self._set_progress(running=True)
        while not stop.is_set() and not self.finished():
            if self._pause_requested.is_set():
                self._stay_paused(stop)
                last_save_time, last_save_episode = time.monotonic(), self.episode
                continue
            self.train_step()
            self._maybe_report()
            if self._save_due(last_save_time, last_save_episode):
                self._save_or_warn()
                last_save_time, last_save_episode = time.monotonic(), self.episode
        # The last window is shorter than a report period (a short run may have no other):
        # report it anyway, so the run's metrics end where its training did.
        self._maybe_report(final=True)
        final = self._final_save()
        self._set_progress(running=False)
        return final

    # ---------------------------------------------------------------- pausing
    def pause(self) -> None:
        """Ask the loop to stop after its current step and save (safe from any thread)."""
        self._pause_requested.set()
        self._wake.set()

    def resume(self) -> None:
        self._pause_requested.clear()
        self._wake.set()

    @property
    def pause_requested(self) -> bool:
        return self._pause_requested.is_set()

    def _stay_paused(self, stop: threading.Event) -> None:
        """Save once, report "paused", and wait for resume() or stop without using a core."""
        saved = self._save_or_warn()
        log.info(
            "training paused at episode %d, env step %s%s",
            self.episode,
            f"{self.env_step:,}",
            f"; checkpoint written: {saved.name}" if saved is not None else "",
        )
        self._set_progress(running=True, steps_per_second=0.0, paused=True)
        while self._pause_requested.is_set() and not stop.is_set():
            # stop has no waiter to wake us, so look at it a few times a second.
            self._wake.wait(0.2)
            self._wake.clear()
        if not stop.is_set():
            log.info("training resumed")
        # Rates count from the resume, not across the pause.
        self._window = _LogWindow(self.env_step)
        self._set_progress(running=True, paused=False)

    def _save_due(self, last_save_time: float, last_save_episode: int) -> bool:
        since = time.monotonic() - last_save_time
        if self._failed_saves:
            # While saves fail, retry on a slow clock: each try serialises the whole state.
            return since >= self.save_retry_seconds
        if self._save_at and self.env_step >= self._save_at[0]:
            return True
        every = self.config.checkpoint
        return (
            self.episode - last_save_episode >= every.every_episodes or since >= every.every_seconds
        )

    def _maybe_report(self, final: bool = False) -> None:
        period = self.config.logging.tensorboard_every_seconds
        if self._window.age() < period and not (final and self.env_step > self._window.start_step):
            return
        summary = self._window.flush(self.env_step)
        self._set_progress(running=True, steps_per_second=summary.steps_per_second)
        if self.metrics is not None:
            self._record_metrics(self.metrics, summary)
        if self.writer is not None:
            try:
                self._write_scalars(self.writer, summary)
            except OSError as error:
                # TensorBoard writes from a thread of its own; once that thread hits a full
                # disk, every later call re-raises its error. Logging stops, training does not.
                log.warning(
                    "TensorBoard logging stopped for this run: could not write to %s (%s); "
                    "training goes on",
                    self.writer.get_logdir(),
                    describe_save_error(error, Path(self.writer.get_logdir())),
                )
                self.writer = None
        if summary.should_print:
            survival = f"{summary.mean_survival:.0f}" if summary.mean_survival is not None else "-"
            log.info(
                "episode %d | env step %s | %.0f steps/s | epsilon %.3f | survival %s",
                self.episode,
                f"{self.env_step:,}",
                summary.steps_per_second,
                self.epsilon,
                survival,
            )

    def _record_metrics(self, metrics: RecordLog[MetricPoint], summary: _WindowSummary) -> None:
        point = MetricPoint(
            env_step=self.env_step,
            episode=self.episode,
            wall_time=round(time.time(), 3),
            training_survival=summary.mean_survival,
            episode_return=summary.mean_return,
            td_loss=summary.mean_loss,
            epsilon=round(self.epsilon, 6),
            learning_rate=self.learning_rate,
            steps_per_second=round(summary.steps_per_second, 1),
            curriculum_stage=self.curriculum.stage if self.curriculum else None,
        )
        try:
            metrics.append(point)
        except OSError as error:
            log.warning(
                "training figures for the page are no longer recorded: could not write to "
                "%s (%s); training goes on",
                metrics.path,
                describe_save_error(error, metrics.path.parent),
            )
            self.metrics = None

    def _write_scalars(self, writer: SummaryWriter, summary: _WindowSummary) -> None:
        step = self.env_step
        writer.add_scalar("charts/epsilon", self.epsilon, step)
        writer.add_scalar("charts/learning_rate", self.learning_rate, step)
        writer.add_scalar("charts/env_steps_per_second", summary.steps_per_second, step)
        writer.add_scalar("charts/episodes", self.episode, step)
        if summary.mean_survival is not None:
            writer.add_scalar("charts/survival_time", summary.mean_survival, step)
            writer.add_scalar("charts/episode_return", summary.mean_return, step)
        if summary.mean_loss is not None:
            writer.add_scalar("losses/td_loss", summary.mean_loss, step)
        if self.curriculum is not None:
            writer.add_scalar("charts/curriculum_stage", self.curriculum.stage, step)

    # ------------------------------------------------------------- progress
    def recent_mean_survival(self) -> float | None:
        if not self.recent_survival:
            return None
        return sum(self.recent_survival) / len(self.recent_survival)

    def _snapshot(
        self, steps_per_second: float, running: bool, paused: bool = False
    ) -> TrainingProgress:
        return TrainingProgress(
            episode=self.episode,
            env_step=self.env_step,
            epsilon=self.epsilon,
            steps_per_second=steps_per_second,
            recent_mean_survival=self.recent_mean_survival(),
            curriculum_stage=self.curriculum.stage if self.curriculum else None,
            running=running,
            paused=paused,
            update_step=self.update_step,
        )

    def _set_progress(
        self, running: bool, steps_per_second: float | None = None, paused: bool = False
    ) -> None:
        with self._progress_lock:
            rate = self._progress.steps_per_second if steps_per_second is None else steps_per_second
            self._progress = self._snapshot(rate, running, paused)

    def progress(self) -> TrainingProgress:
        with self._progress_lock:
            return self._progress

    # ---------------------------------------------------------- checkpoints
    def _open_checkpoint_folder(self, catalog: CheckpointCatalog | None) -> None:
        if catalog is not None and catalog.directory != self.checkpoint_dir:
            raise ValueError(f"catalog of {catalog.directory} given for {self.checkpoint_dir}")
        self.catalog = catalog or CheckpointCatalog(self.checkpoint_dir, self.world.obs_dim)
        # Checkpoints of this run lineage carry its id; pruning counts and deletes only those.
        # A resumed run takes the id of the checkpoint it resumes (see load_state_dict).
        self.run_id = uuid.uuid4().hex[:12]
        self.last_saved: Path | None = None
        self.save_retry_seconds = SAVE_RETRY_SECONDS
        self._failed_saves = 0
        # No save is running yet, so any temporary file here was left by a crash mid-save.
        removed = self.catalog.remove_stale_temporaries()
        if removed:
            log.info(
                "removed %d temporary file(s) left by an interrupted save in %s",
                len(removed),
                self.checkpoint_dir,
            )

    def state_dict(self) -> dict[str, Any]:
        python_state = random.getstate()
        numpy_state = np.random.get_state()
        state: dict[str, Any] = {
            "model_args": self.model_args,
            "online": self.online.state_dict(),
            "target": self.target.state_dict(),
            "policy": self.policy.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "config": config_to_dict(self.config),
            "counters": {
                "episode": self.episode,
                "env_step": self.env_step,
                "update_step": self.update_step,
            },
            "update_credit": self.update_credit,
            "epsilon": self.epsilon,
            "recent_survival": list(self.recent_survival),
            "rng": {
                "torch": torch.get_rng_state(),
                "trainer": self.generator.get_state(),
                "python": [python_state[0], list(python_state[1]), python_state[2]],
                "numpy": [
                    numpy_state[0],
                    torch.from_numpy(numpy_state[1].astype(np.int64)),
                    int(numpy_state[2]),
                    int(numpy_state[3]),
                    float(numpy_state[4]),
                ],
            },
            "world": self.world.state_dict(),
            "saved_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "run_id": self.run_id,
        }
        if self.hidden is not None:
            state["hidden"] = self.hidden
        if self.curriculum is not None:
            state["curriculum"] = self.curriculum.state_dict()
        if self.rnd is not None:
            state["rnd"] = {
                "networks": self.rnd.state_dict(),
                "optimizer": self.rnd.optimizer.state_dict(),
            }
        if self.settings.save_replay:
            state["replay"] = self.replay.state_dict()
        return state

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if isinstance(state.get("run_id"), str):
            self.run_id = state["run_id"]  # carry on the lineage: its older files get pruned
        self.online.load_state_dict(state["online"])
        self.target.load_state_dict(state["target"])
        if self.policy is not self.online:
            self.policy.load_state_dict(played_weights(state))
        self.optimizer.load_state_dict(state["optimizer"])
        counters = state["counters"]
        self.episode = int(counters["episode"])
        self.env_step = int(counters["env_step"])
        self.update_step = int(counters["update_step"])
        self.update_credit = float(state["update_credit"])
        self.recent_survival.clear()
        self.recent_survival.extend(int(v) for v in state["recent_survival"])
        rng = state["rng"]
        torch.set_rng_state(rng["torch"])
        self.generator.set_state(rng["trainer"])
        version, internal, gauss = rng["python"]
        random.setstate((version, tuple(internal), gauss))
        name, keys, position, has_gauss, cached = rng["numpy"]
        np.random.set_state((name, keys.numpy().astype(np.uint32), position, has_gauss, cached))
        self.world.load_state_dict(state["world"])
        if self.hidden is not None and "hidden" in state:
            self.hidden.copy_(state["hidden"])
        if self.curriculum is not None and "curriculum" in state:
            self.curriculum.load_state_dict(state["curriculum"])
            self.curriculum.apply(self.world)
        if self.rnd is not None and "rnd" in state:
            self.rnd.load_state_dict(state["rnd"]["networks"])
            self.rnd.optimizer.load_state_dict(state["rnd"]["optimizer"])
        if "replay" in state:
            self.replay.load_state_dict(state["replay"])
        self._set_progress(running=False)

    def save(self) -> Path:
        """Write a checkpoint, then prune; a failed write raises OSError and prunes nothing."""
        path = save_checkpoint(
            self.state_dict(), self.checkpoint_dir, checkpoint_name(self.episode, self.env_step)
        )
        self.catalog.accept(path, self.run_id)
        self.last_saved = path
        while self._save_at and self.env_step >= self._save_at[0]:
            # Pinned for good: pruning must not take the file a sweep evaluates at this step.
            self.catalog.pin(f"env step {self._save_at.pop(0)}", path)
        report = self.catalog.prune(self.config.checkpoint.keep_last, self.run_id)
        for rejection in report.rejected:
            log.warning(
                "ignoring %s: %s (it is not counted toward keep_last and not deleted)",
                rejection.path,
                rejection.reason,
            )
        for failure in report.not_deleted:
            log.warning("could not delete old checkpoint %s: %s", failure.path, failure.reason)
        return path

    def newest_saved(self) -> Path | None:
        """The newest checkpoint known to be on disk and readable, ours or the one resumed."""
        return self.last_saved or self.catalog.newest(verified=True)

    def _save_or_warn(self) -> Path | None:
        """Save; on an OSError (full disk, quota, ...) warn and carry on without a traceback."""
        try:
            path = self.save()
        except OSError as error:
            self._failed_saves += 1
            newest = self.newest_saved() or "none yet"
            reason = describe_save_error(error, self.checkpoint_dir)
            if self._failed_saves == 1:
                log.warning(
                    "could not save checkpoint to %s: %s; training and live play go on; "
                    "free space or move the run, retrying every %g s; "
                    "newest saved checkpoint: %s",
                    self.checkpoint_dir,
                    reason,
                    self.save_retry_seconds,
                    newest,
                )
            else:
                log.warning(
                    "still cannot save checkpoint to %s: %s (%d tries); retrying in %g s; "
                    "newest saved checkpoint: %s",
                    self.checkpoint_dir,
                    reason,
                    self._failed_saves,
                    self.save_retry_seconds,
                    newest,
                )
            return None
        if self._failed_saves:
            log.info(
                "checkpoint saving works again: %s written after %d failed tries",
                path.name,
                self._failed_saves,
            )
            self._failed_saves = 0
        return path

    def _final_save(self) -> FinalSave:
        try:
            path = self.save()
        except OSError as error:
            reason = describe_save_error(error, self.checkpoint_dir)
            newest = self.newest_saved()
            log.error(
                "final checkpoint NOT written to %s: %s; newest saved checkpoint: %s",
                self.checkpoint_dir,
                reason,
                newest or "none",
            )
            return FinalSave(path=None, error=reason, newest_saved=newest)
        log.info(
            "final checkpoint written: %s (episode %d, env step %d)",
            path.name,
            self.episode,
            self.env_step,
        )
        return FinalSave(path=path, error=None, newest_saved=path)


@dataclass
class _WindowSummary:
    steps_per_second: float
    mean_survival: float | None
    mean_return: float | None
    mean_loss: float | None
    should_print: bool


class _LogWindow:
    """Aggregates what happened since the last TensorBoard write."""

    PRINT_EVERY_SECONDS = 10.0

    def __init__(self, env_step: int = 0) -> None:
        self.started = time.monotonic()
        self.last_print = self.started
        self.start_step = env_step
        self._reset()

    def _reset(self) -> None:
        self.lengths: list[int] = []
        self.returns: list[float] = []
        self.losses: list[float] = []

    def age(self) -> float:
        return time.monotonic() - self.started

    def add_episodes(self, lengths: list[int], returns: list[float]) -> None:
        self.lengths += lengths
        self.returns += returns

    def add_loss(self, value: float) -> None:
        self.losses.append(value)

    def flush(self, env_step: int) -> _WindowSummary:
        now = time.monotonic()
        rate = (env_step - self.start_step) / max(now - self.started, 1e-9)
        summary = _WindowSummary(
            steps_per_second=rate,
            mean_survival=_mean(self.lengths),
            mean_return=_mean(self.returns),
            mean_loss=_mean(self.losses),
            should_print=now - self.last_print >= self.PRINT_EVERY_SECONDS,
        )
        if summary.should_print:
            self.last_print = now
        self.started, self.start_step = now, env_step
        self._reset()
        return summary


def _mean(values: list[float] | list[int]) -> float | None:
    return sum(values) / len(values) if values else None

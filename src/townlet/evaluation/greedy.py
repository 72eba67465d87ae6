"""One checkpoint played greedily on the fixed evaluation worlds: one point of the curve.

The network is rebuilt from the checkpoint alone, as live play does; the worlds come from the
run's config with the ``evaluation`` section's seed, count and step cap, so two checkpoints
meet exactly the same worlds and the same checkpoint always gives the same point. Worlds run
at full drain whatever the training curriculum's stage: this is the task as the config states
it, not the one the learner is currently shown.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from townlet.config import TownletConfig
from townlet.learner.evaluation import greedy_policy
from townlet.live.player import policy_from_checkpoint
from townlet.run_records import EvaluationPoint
from townlet.world import VectorWorld
from townlet.world.baselines import run_first_episodes


def evaluation_step_cap(config: TownletConfig) -> int:
    """The evaluation's step cap: its own, or the world's when it sets none."""
    return config.evaluation.step_cap or config.world.step_cap


def observation_size(config: TownletConfig) -> int:
    """Observation features of the config's world (a checkpoint must match it)."""
    return VectorWorld(config.world, config.reward, 1).obs_dim


def evaluate_checkpoint(
    config: TownletConfig,
    path: Path,
    checkpoint: dict[str, Any],
    obs_dim: int | None = None,
    should_stop: Callable[[], bool] | None = None,
) -> EvaluationPoint:
    """Play ``config.evaluation.worlds`` worlds, one episode each, greedily over legal actions.

    ``checkpoint`` is the loaded file at ``path``; ``CheckpointError`` when it does not
    describe a network for this world. ``should_stop`` is asked between world steps and
    abandons the evaluation with ``EvaluationStopped``.
    """
    settings = config.evaluation
    step_cap = evaluation_step_cap(config)
    loaded = policy_from_checkpoint(
        path, checkpoint, obs_dim if obs_dim is not None else observation_size(config)
    )
    episodes = run_first_episodes(
        config.world,
        config.reward,
        greedy_policy(loaded.network),
        settings.worlds,
        step_cap,
        seed=settings.seed,
        should_stop=should_stop,
    )
    survival = episodes.survival
    causes = episodes.cause_counts()
    return EvaluationPoint(
        checkpoint=path.name,
        env_step=loaded.announcement.env_step,
        episode=loaded.announcement.episode,
        worlds=settings.worlds,
        step_cap=step_cap,
        mean_survival=float(survival.double().mean()),
        min_survival=int(survival.min()),
        max_survival=int(survival.max()),
        share_at_cap=causes["step_cap"] / settings.worlds,
        causes=causes,
        wall_time=time.time(),
    )

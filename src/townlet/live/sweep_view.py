"""The live server of a sweep (``run_demo.py --runs``): every trial's figures and learning
curve, the mean across trials with its 95% band, which trial is best, and the one live session
that plays the trial being followed.

Nothing trains in the server's process: each trial trains in a Ray task and writes its registry
row (status, counters, heartbeat every 2 s) and its folder (``metrics.jsonl``,
``evaluations.jsonl``, checkpoints). Every ``REFRESH_SECONDS`` the follower reads what is new
there in a worker thread, ranks the trials (sweep/standing.py: the one definition of best) and,
while it follows the best, moves the live view when another trial takes over.

A live session belongs to one checkpoint folder, so moving the live view builds a session for
the new trial and stops the old one, whose viewers' sockets close with ``FOLLOW_CLOSE_CODE``:
the page reconnects at once and the new session greets it like any page that connects (world,
history, charts, checkpoints), so nothing of the old trial lingers on screen.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel

from townlet.config import ConfigError, TownletConfig, load_config
from townlet.learner.trainer import TrainingProgress
from townlet.live.protocol import FOLLOW_CLOSE_CODE
from townlet.live.run_history import downsample
from townlet.live.running import RunningSession
from townlet.live.session import ControlRefused, LiveSession
from townlet.registry import (
    ACTIVE,
    Registry,
    RegistryError,
    RunRecord,
    SweepRecord,
    effective_status,
    sweep_status,
    this_host,
)
from townlet.run_records import (
    EvaluationPoint,
    MetricPoint,
    RecordTail,
    evaluation_log,
    metrics_log,
)
from townlet.sweep.standing import (
    BEST_MARGIN,
    RECENT_REPORTS,
    Basis,
    BestTrial,
    TrialScore,
    best_trial,
    mean_band,
    recent_training_survival,
)

log = logging.getLogger("townlet.inference")

REFRESH_SECONDS = 2.0  # the trials' rows are written every 2 s, their metrics every ~1 s
CURVE_POINTS = 300  # per trial in /api/sweep: smooth at any width the page draws it
LEFT_OUT = frozenset({"failed", "lost"})  # left out of "best" and of the band, as in results.md
BEST = "best"


@dataclass(frozen=True)
class TrialSetup:
    run_id: str
    index: int
    seed: int
    setting: str  # the setting's label ("config" when the sweep varies only the seed)
    name: str
    run_dir: Path


@dataclass(frozen=True)
class SweepSetup:
    """What the sweep's driver registered, handed to the live server process at start."""

    sweep_id: str
    name: str
    runs_dir: Path  # the registry's folder
    trials: tuple[TrialSetup, ...]


# ------------------------------------------------------------------ GET /api/sweep
class Curve(BaseModel):
    """Training survival (epsilon-greedy episodes) against env steps, downsampled."""

    env_step: list[int]
    survival: list[float]


class Band(BaseModel):
    """The trials' mean training survival on a common env-step grid, with its 95% Student-t
    interval (sweep/standing.py ``mean_band``): per point, each trial's mean over its reports
    in that stretch of env steps; ``n`` trials got there (low/high are null where n is 1)."""

    level: float = 0.95
    env_step: list[int]
    n: list[int]
    mean: list[float]
    low: list[float | None]
    high: list[float | None]


class TrialView(BaseModel):
    run: str
    index: int
    seed: int
    setting: str
    name: str
    status: str  # the registry's effective status (starting .. completed, failed, lost)
    episode: int
    env_step: int
    steps_per_second: float | None  # while it trains; null otherwise
    training_survival: float | None  # mean over its last reports (sweep/standing.py)
    greedy: EvaluationPoint | None  # its latest greedy evaluation
    newest_checkpoint: str | None
    end_reason: str | None
    error: str | None
    followed: bool  # the live view plays this trial
    best: bool
    curve: Curve


class FollowView(BaseModel):
    mode: Literal["best", "picked"]  # following the best trial, or one a viewer picked
    run: str  # the trial the live view plays
    best: str | None  # the best trial (null while no trial has a figure)
    basis: Basis | None  # what decided it: latest greedy evaluation, or training survival
    margin: float = BEST_MARGIN  # by how much (a fraction) another trial must do better


class SweepView(BaseModel):
    id: str
    name: str
    status: str
    trials: list[TrialView]
    band: Band
    follow: FollowView
    recent_reports: int = RECENT_REPORTS  # training survival: the mean of this many reports
    updated_at: float  # unix seconds of the last refresh


# ------------------------------------------------------------------ one trial's folder
@dataclass
class TrialRecords:
    """What one trial's folder says: its curve, its last training report, its newest
    evaluation. Read in a worker thread (``read``), applied on the event loop (``add``)."""

    run_dir: Path
    curve: list[tuple[int, float]] = field(default_factory=list)
    last_point: MetricPoint | None = None
    greedy: EvaluationPoint | None = None

    def __post_init__(self) -> None:
        self._metrics = RecordTail(metrics_log(self.run_dir))
        self._evaluations = RecordTail(evaluation_log(self.run_dir))

    def read(self) -> tuple[list[MetricPoint], list[EvaluationPoint]]:
        return self._metrics.read_new(), self._evaluations.read_new()

    def add(self, points: list[MetricPoint], evaluations: list[EvaluationPoint]) -> None:
        for point in points:
            self.last_point = point
            survival = point.training_survival
            if survival is None or not math.isfinite(survival):
                continue
            if self.curve and point.env_step <= self.curve[-1][0]:
                continue  # the curve's env steps only go up (a replayed stretch adds nothing)
            self.curve.append((point.env_step, survival))
        for evaluation in evaluations:
            if self.greedy is None or evaluation.env_step >= self.greedy.env_step:
                self.greedy = evaluation


def trial_config(trial: TrialSetup, base: TownletConfig) -> TownletConfig:
    """The config the trial trains with (its folder's config.yaml), else the sweep's."""
    saved = trial.run_dir / "config.yaml"
    if saved.is_file():
        try:
            return load_config(saved)
        except ConfigError as error:
            log.warning("playing trial %d with the sweep's config: %s", trial.index, error)
    return base


# A live session for a trial, given its progress and its training process's pid.
SessionFactory = Callable[
    [TrialSetup, Callable[[], TrainingProgress | None], int | None], LiveSession
]


class SweepFollower:
    """Owns the live session of the trial being followed; ranks the trials every refresh."""

    def __init__(
        self,
        setup: SweepSetup,
        build: SessionFactory,
        publish: Callable[[LiveSession], None],
        fallback_pid: int | None = None,
    ) -> None:
        """``build``: a session for a trial, its progress and its training process's pid.
        ``publish``: told of each new session (the app's routes use the one published last).
        ``fallback_pid``: the process measured as training before a trial's own is known."""
        self.setup = setup
        self.build = build
        self.publish = publish
        self.fallback_pid = fallback_pid
        self.trials = {trial.run_id: trial for trial in setup.trials}
        self.records = {trial.run_id: TrialRecords(trial.run_dir) for trial in setup.trials}
        self.rows: dict[str, RunRecord] = {}
        self.statuses: dict[str, str] = {}
        self.sweep: SweepRecord | None = None
        self.mode: Literal["best", "picked"] = "best"
        self.best: BestTrial | None = None
        self.followed: str | None = None
        self.running: RunningSession | None = None
        self.view: SweepView | None = None
        self._switching = asyncio.Lock()
        self._refresher: asyncio.Task[None] | None = None
        self._registry_warned = False

    # ------------------------------------------------------------ life
    async def start(self) -> None:
        """Read the trials once, follow the best (the first trial while none has a figure),
        then refresh in the background."""
        await self.refresh()
        await self._follow(self._auto_target(), "the best trial")
        self.view = self._view()
        self._refresher = asyncio.create_task(self._refresh_forever(), name="sweep-refresh")

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        if self.running is not None:
            await self.running.stop()

    async def _refresh_forever(self) -> None:
        while True:
            await asyncio.sleep(REFRESH_SECONDS)
            try:
                await self.refresh()
                if self.mode == "best":
                    await self._follow(self._auto_target(), "the best trial")
                self.view = self._view()
            except ControlRefused as refusal:
                log.warning("the live view stays on its trial: %s", refusal)
            except Exception:  # the sweep's figures are a convenience; live play goes on
                log.exception("could not refresh the sweep's figures; trying again")

    # ------------------------------------------------------------ reading
    async def refresh(self) -> None:
        """Read what the registry and the trials' folders say now, and rank the trials."""
        registry, records = await asyncio.to_thread(self._read)
        if registry is not None:
            self.sweep, self.rows, self.statuses = registry
        for run_id, (points, evaluations) in records.items():
            self.records[run_id].add(points, evaluations)
        holder = self.best.run_id if self.best is not None else None
        self.best = best_trial(self._scores(), holder)

    def _read(
        self,
    ) -> tuple[
        tuple[SweepRecord | None, dict[str, RunRecord], dict[str, str]] | None,
        dict[str, tuple[list[MetricPoint], list[EvaluationPoint]]],
    ]:
        """In a worker thread: the registry's rows (a connection of this thread's own) and
        each trial's new records."""
        records = {run_id: trial.read() for run_id, trial in self.records.items()}
        try:
            registry = Registry(self.setup.runs_dir, create=False)
        except RegistryError as error:
            self._warn_registry(error)
            return None, records
        try:
            sweep = registry.get_sweep(self.setup.sweep_id)
            rows = {row.id: row for row in registry.sweep_trials(self.setup.sweep_id)}
        except RegistryError as error:
            self._warn_registry(error)
            return None, records
        finally:
            registry.close()
        self._registry_warned = False
        statuses = {run_id: effective_status(row) for run_id, row in rows.items()}
        return (sweep, rows, statuses), records

    def _warn_registry(self, error: RegistryError) -> None:
        if not self._registry_warned:
            self._registry_warned = True
            log.warning("the sweep's table shows the last known statuses: %s", error)

    def status_of(self, run_id: str) -> str:
        return self.statuses.get(run_id, "starting")

    def _scores(self) -> list[TrialScore]:
        return [
            TrialScore(
                run_id,
                greedy=records.greedy.mean_survival if records.greedy is not None else None,
                training=recent_training_survival(records.curve),
            )
            for run_id, records in self.records.items()
            if self.status_of(run_id) not in LEFT_OUT
        ]

    def progress_of(self, run_id: str) -> TrainingProgress | None:
        """Where the trial's training stands, as the live session shows it (header, charts'
        status line); None until the trial has started."""
        row = self.rows.get(run_id)
        status = self.status_of(run_id)
        if row is None or status == "starting":
            return None
        records = self.records[run_id]
        point = records.last_point
        return TrainingProgress(
            episode=max(row.episode, point.episode if point else 0),
            env_step=max(row.env_step, point.env_step if point else 0),
            epsilon=point.epsilon if point is not None else 1.0,
            steps_per_second=(row.steps_per_second or 0.0) if status in ACTIVE else 0.0,
            recent_mean_survival=recent_training_survival(records.curve),
            curriculum_stage=point.curriculum_stage if point is not None else None,
            running=status in ("running", "paused"),
            paused=status == "paused",
        )

    def _pid_of(self, run_id: str) -> int | None:
        """The trial's training process, when it runs on this machine."""
        row = self.rows.get(run_id)
        status = self.status_of(run_id)
        here = row is not None and row.host == this_host() and row.pid is not None
        if here and status in ACTIVE and status != "starting":
            return row.pid  # type: ignore[union-attr]  # here: row is set
        return self.fallback_pid

    # ------------------------------------------------------------ following
    def _auto_target(self) -> str:
        if self.best is not None:
            return self.best.run_id
        return self.followed or self.setup.trials[0].run_id

    async def pick(self, run: str) -> str:
        """Follow ``run`` (a trial's run id), or the best trial from now on ("best")."""
        if run == BEST:
            target, mode = self._auto_target(), "best"
        elif run in self.trials:
            target, mode = run, "picked"
        else:
            choices = ", ".join(trial.run_id for trial in self.setup.trials)
            raise ControlRefused(
                f'no trial {run!r} in sweep {self.setup.sweep_id}: give one of {choices}, or "best"'
            )
        previous, self.mode = self.mode, mode  # type: ignore[assignment]
        try:
            await self._follow(target, "the best trial" if mode == "best" else "picked by a viewer")
        except ControlRefused:
            self.mode = previous
            raise
        self.view = self._view()
        trial = self.trials[target]
        what = "the best trial, now" if mode == "best" else "trial"
        return f"following {what} #{trial.index} (seed {trial.seed}, run {trial.run_id})"

    async def _follow(self, run_id: str, why: str) -> None:
        async with self._switching:
            if self.running is not None and self.followed == run_id:
                return
            trial = self.trials[run_id]
            try:
                session = self.build(trial, lambda: self.progress_of(run_id), self._pid_of(run_id))
            except Exception as error:
                raise ControlRefused(
                    f"cannot play trial #{trial.index} ({type(error).__name__}: {error})"
                ) from error
            previous, self.running = self.running, RunningSession(session)
            self.followed = run_id
            self.publish(session)
            self.running.start()
            log.info(
                "live view: trial #%d (seed %d, run %s), %s",
                trial.index,
                trial.seed,
                trial.run_id,
                why,
            )
            if previous is not None:
                # Said everywhere before the viewers are sent on: a page that reconnects at
                # once already finds the new trial followed in /api/sweep.
                self.view = self._view()
                await previous.stop(FOLLOW_CLOSE_CODE, f"following trial {run_id}")

    # ------------------------------------------------------------ the answer
    def _view(self) -> SweepView:
        followed = self.followed or self.setup.trials[0].run_id
        best = self.best.run_id if self.best is not None else None
        trials = [self._trial_view(trial, followed, best) for trial in self.setup.trials]
        band = mean_band(
            [
                records.curve
                for run_id, records in self.records.items()
                if self.status_of(run_id) not in LEFT_OUT
            ]
        )
        return SweepView(
            id=self.setup.sweep_id,
            name=self.setup.name,
            status=sweep_status(self.sweep) if self.sweep is not None else "running",
            trials=trials,
            band=Band(
                env_step=[point.env_step for point in band],
                n=[point.interval.n for point in band],
                mean=[round(point.interval.mean, 3) for point in band],
                low=[_rounded(point.interval.low) for point in band],
                high=[_rounded(point.interval.high) for point in band],
            ),
            follow=FollowView(
                mode=self.mode,
                run=followed,
                best=best,
                basis=self.best.basis if self.best is not None else None,
            ),
            updated_at=time.time(),
        )

    def _trial_view(self, trial: TrialSetup, followed: str, best: str | None) -> TrialView:
        records = self.records[trial.run_id]
        row = self.rows.get(trial.run_id)
        status = self.status_of(trial.run_id)
        point = records.last_point
        curve = downsample(records.curve, CURVE_POINTS)
        return TrialView(
            run=trial.run_id,
            index=trial.index,
            seed=trial.seed,
            setting=trial.setting,
            name=trial.name,
            status=status,
            episode=max(row.episode if row else 0, point.episode if point else 0),
            env_step=max(row.env_step if row else 0, point.env_step if point else 0),
            steps_per_second=row.steps_per_second
            if row is not None and status in ACTIVE and status != "starting"
            else None,
            training_survival=_rounded(recent_training_survival(records.curve)),
            greedy=records.greedy,
            newest_checkpoint=row.newest_checkpoint if row else None,
            end_reason=row.end_reason if row else None,
            error=row.error if row else None,
            followed=trial.run_id == followed,
            best=trial.run_id == best,
            curve=Curve(
                env_step=[step for step, _ in curve],
                survival=[round(value, 3) for _, value in curve],
            ),
        )


def _rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 3)

"""What the live server knows and does: play, follow the run's records, carry out controls.

Everything here runs on the server's event loop; disk reads and checkpoint loads go to worker
threads. Controls arrive as typed client messages, from a WebSocket or the matching HTTP route,
and are carried out by one method, ``control``: the answer (or the reason for refusing) is the
same whichever way a request came.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Protocol

from starlette.websockets import WebSocket

from townlet.checkpoints import (
    CheckpointCatalog,
    CheckpointError,
    CheckpointMissingError,
    RejectedCheckpoint,
    checkpoint_order,
)
from townlet.config import TownletConfig
from townlet.evaluation.best import best_of
from townlet.learner.trainer import TrainingProgress
from townlet.live.client_messages import ClientMessageError, parse_client_frame
from townlet.live.compare import Comparison
from townlet.live.hub import Hub
from townlet.live.player import LivePlayer, LoadedPolicy
from townlet.live.protocol import (
    MAX_STEPS_PER_SECOND,
    MIN_STEPS_PER_SECOND,
    Ack,
    CheckpointEntry,
    Checkpoints,
    ClientMessage,
    CompareStopped,
    EpisodeEnd,
    ErrorReply,
    History,
    HistoryEpisode,
    ModelLoaded,
    PausePlay,
    PauseTraining,
    PickCheckpoint,
    PlayStatus,
    ResumePlay,
    ResumeTraining,
    SetSpeed,
    StartCompare,
    State,
    StepPlay,
    StopCompare,
    TrainingStatus,
    WaitingForModel,
)
from townlet.live.restarts import RestartPolicy
from townlet.live.run_history import RunHistory
from townlet.monitoring.monitor import AlertNotice, Monitor, process_roles
from townlet.run_records import EvaluationPoint

log = logging.getLogger("townlet.inference")

HISTORY_LENGTH = 30  # live episodes replayed to a page that connects
RECORDS_EVERY_SECONDS = 1.0  # training status, new training points, evaluations, checkpoints


class TrainingControl(Protocol):
    """What the live server may ask of training (DQNTrainer is one)."""

    def pause(self) -> None: ...

    def resume(self) -> None: ...


class ControlRefused(Exception):
    """A control request that cannot be carried out; ``str()`` says why, for the user."""


class LiveSession:
    def __init__(
        self,
        config: TownletConfig,
        checkpoint_dir: Path,
        training_progress: Callable[[], TrainingProgress | None],
        catalog: CheckpointCatalog | None = None,
        *,
        run_dir: Path | None = None,
        training_control: TrainingControl | None = None,
        tensorboard_url: str | None = None,
        run_id: str | None = None,
        run_name: str | None = None,
        monitoring: bool = True,
        training_pid: int | None = None,
        on_alert: Callable[[AlertNotice], None] | None = None,
        sweep_id: str | None = None,
    ) -> None:
        """``sweep_id``: the sweep this run is a trial of (the page then shows the sweep).
        ``monitoring``: system samples, their history, alert rules and /metrics (off only
        to measure what they cost). ``training_pid``: the training process, when it is another
        one (its CPU and memory are measured too). ``on_alert``: told of each alert that fires
        or resolves (the training process records them)."""
        self.config = config
        self.player = LivePlayer(config, checkpoint_dir, catalog=catalog)
        self.catalog = self.player.catalog
        self.hub = Hub()
        self.training_progress = training_progress
        self.training_control = training_control
        self.tensorboard_url = tensorboard_url
        self.run_id, self.run_name, self.sweep_id = run_id, run_name, sweep_id
        self.records = RunHistory(run_dir)
        self.steps_per_second = config.live.steps_per_second
        self.play_paused = False
        self.steps_owed = 0  # single steps asked for while paused
        # The best (evaluated) checkpoint by default: what a viewer should see is the agent at
        # its best, not whichever checkpoint training happened to write last.
        self.follow: str = "best" if config.evaluation.enabled else "newest"  # or "pinned"
        self._best_offered: str | None = None  # the best checkpoint last handed to the player
        self.pinned: str | None = None  # the picked checkpoint, playing or queued
        self.last_state: State | None = None  # for a page that connects while play is paused
        self.comparison: Comparison | None = None
        self.current_model: ModelLoaded | None = None
        self.last_training_status: TrainingStatus | None = None
        self.last_checkpoints: Checkpoints | None = None
        self.wake = asyncio.Event()
        self.history: deque[HistoryEpisode] = deque(maxlen=HISTORY_LENGTH)
        # Set by a crash of the play loop, cleared when it completes a tick again.
        self.play_error: str | None = None
        # Set when the loop crashed too often to restart: the run should stop.
        self.fatal_error: str | None = None
        self.monitor = (
            Monitor(
                config.alerts,
                hub=self.hub,
                records=self.records,
                catalog=self.catalog,
                training_progress=training_progress,
                live_survival=lambda: self.history[-1].steps if self.history else None,
                run_dir=run_dir,
                run_id=run_id,
                run_name=run_name,
                pids=process_roles(training_pid),
                on_alert=on_alert,
            )
            if monitoring
            else None
        )

    # ------------------------------------------------------------ messages in
    async def answer(self, websocket: WebSocket, event: Mapping[str, object]) -> None:
        """Act on one frame from a client and tell that client how it went."""
        try:
            message = parse_client_frame(event)
        except ClientMessageError as error:
            # Client input, not our fault: no traceback, and the client learns why.
            log.debug("refused a client message: %s", error)
            self.hub.send_to(websocket, ErrorReply(message=str(error)).to_json())
            return
        try:
            said = await self.control(message)
        except ControlRefused as refusal:
            reply = ErrorReply(message=str(refusal), request=message.type).to_json()
        else:
            reply = Ack(request=message.type, message=said).to_json()
        self.hub.send_to(websocket, reply)

    async def control(self, message: ClientMessage) -> str:
        """Carry out one control request; what was done, or ControlRefused with the reason."""
        match message:
            case SetSpeed(steps_per_second=pace):
                self.set_speed(pace)
                await self._broadcast_play_status()
                return f"pace set to {self.steps_per_second:g} steps/s"
            case PauseTraining() | ResumeTraining():
                return self._control_training(isinstance(message, PauseTraining))
            case PausePlay():
                self.play_paused = True
                await self._broadcast_play_status()
                return "live play paused"
            case ResumePlay():
                self.play_paused, self.steps_owed = False, 0
                self.wake.set()
                await self._broadcast_play_status()
                return "live play resumed"
            case StepPlay():
                if not self.play_paused:
                    raise ControlRefused("live play is running: pause it first to step it")
                if not self.player.ready:
                    raise ControlRefused("no checkpoint to play yet")
                self.steps_owed += 1
                self.wake.set()
                return "one step"
            case PickCheckpoint(name=name, when=when, follow=follow):
                return await self._pick(name, when, follow)
            case StartCompare(left=left, right=right):
                return await self._start_compare(left, right)
            case StopCompare():
                if self.comparison is None:
                    raise ControlRefused("no comparison is running")
                await self._stop_compare("stopped by a viewer")
                return "comparison stopped"
        raise ControlRefused(f"{message.type} is not handled by this server")

    def set_speed(self, steps_per_second: float) -> None:
        """A finite pace (the message models guarantee it), clamped to the supported range."""
        self.steps_per_second = min(
            max(steps_per_second, MIN_STEPS_PER_SECOND), MAX_STEPS_PER_SECOND
        )
        self.wake.set()

    def _control_training(self, pause: bool) -> str:
        control = self.training_control
        progress = self.training_progress()
        if control is None or progress is None:
            raise ControlRefused("training does not run in this process")
        if not progress.running:
            raise ControlRefused("training has stopped (episode budget reached or shutting down)")
        if pause:
            if progress.paused:
                raise ControlRefused("training is already paused")
            control.pause()
            return "pausing training: it stops after its current step and writes a checkpoint"
        if not progress.paused:
            raise ControlRefused("training is not paused")
        control.resume()
        return "training resumed"

    # ------------------------------------------------------------ checkpoints
    def checkpoints(self) -> Checkpoints:
        readable = self.catalog.readable()
        milestones = self.catalog.milestones()
        items = []
        for path in readable:
            order = checkpoint_order(path)
            if order is not None:
                env_step, episode = order
                items.append(
                    CheckpointEntry(
                        name=path.name,
                        env_step=env_step,
                        episode=episode,
                        milestone=path in milestones,
                    )
                )
        playing = self.player.policy.path.name if self.player.policy is not None else None
        pinned = self.pinned if self.follow == "pinned" else None
        best = self.best_evaluation({path.name for path in readable})
        return Checkpoints(
            items=items,
            follow=self.follow,  # type: ignore[arg-type]
            pinned=pinned,
            playing=playing,
            best=best.checkpoint if best is not None else None,
            best_survival=best.mean_survival if best is not None else None,
        )

    def best_evaluation(self, kept: set[str] | None = None) -> EvaluationPoint | None:
        """The best evaluated checkpoint among those still kept (evaluation/best.py)."""
        names = kept if kept is not None else {path.name for path in self.catalog.readable()}
        return best_of(e for e in self.records.evaluations if e.checkpoint in names)

    async def _read_named(self, name: str, reader: LivePlayer) -> LoadedPolicy:
        try:
            return await asyncio.to_thread(reader.read_named, name)
        except CheckpointError as error:
            raise ControlRefused(str(error)) from None

    async def _pick(self, name: str | None, when: str, follow: str = "newest") -> str:
        if name is None:
            self.follow, self.pinned, self._best_offered = follow, None, None
            await self._follow_checkpoints()
            await self._broadcast_checkpoints(force=True)
            return f"following the {follow} checkpoint"
        policy = await self._read_named(name, self.player)
        self.follow, self.pinned = "pinned", name
        if when == "now" or not self.player.ready:
            announcement = self.player.switch_now(policy)
            self.current_model = announcement
            await self.hub.broadcast(announcement.to_json())
            said = f"playing {name} from now on"
        else:
            self.player.offer(policy)
            said = f"{name} plays from the next episode"
        await self._broadcast_checkpoints(force=True)
        return said

    # ------------------------------------------------------------ comparing
    async def _start_compare(self, left: str | None, right: str | None) -> str:
        readable = self.catalog.readable()
        if len(readable) < 1:
            raise ControlRefused("no checkpoint to compare yet")
        milestones = self.catalog.milestones()
        earliest = next((p for p in readable if p in milestones), readable[0])
        left_name = left or earliest.name
        right_name = right or readable[-1].name
        readers = [
            LivePlayer(
                self.config,
                self.catalog.directory,
                catalog=self.catalog,
                name=f"compare-read-{side}",
            )
            for side in ("left", "right")
        ]
        try:
            policies = [
                await self._read_named(name, reader)
                for name, reader in zip((left_name, right_name), readers, strict=True)
            ]
        finally:
            for reader in readers:
                reader.release()
        if self.comparison is not None:
            self.comparison.close()
        self.comparison = Comparison(self.config, self.catalog, *policies)
        await self.hub.broadcast(self.comparison.started().to_json())
        self.wake.set()
        return f"comparing {left_name} with {right_name}"

    async def _stop_compare(self, reason: str) -> None:
        if self.comparison is not None:
            self.comparison.close()
            self.comparison = None
            await self.hub.broadcast(CompareStopped(reason=reason).to_json())

    # ------------------------------------------------------------ greeting
    def greeting(self) -> list[str]:
        hello = self.player.hello(
            self.steps_per_second, HISTORY_LENGTH, self.tensorboard_url
        ).model_copy(
            update={"run_id": self.run_id, "run_name": self.run_name, "sweep_id": self.sweep_id}
        )
        messages: list[str] = [
            hello.to_json(),
            History(episodes=list(self.history)).to_json(),
            self.records.history().to_json(),
            self.play_status().to_json(),
            self.checkpoints().to_json(),
        ]
        if self.current_model is not None:
            messages.append(self.current_model.to_json())
        else:
            messages.append(WaitingForModel(message="waiting for the first checkpoint").to_json())
        if self.last_state is not None and self.current_model is not None:
            messages.append(self.last_state.to_json())
        if self.last_training_status is not None:
            messages.append(self.last_training_status.to_json())
        if self.comparison is not None:
            messages.append(self.comparison.started().to_json())
        if self.monitor is not None:
            messages += self.monitor.greeting()
        return messages

    def play_status(self) -> PlayStatus:
        return PlayStatus(paused=self.play_paused, steps_per_second=self.steps_per_second)

    def training_status(self) -> TrainingStatus | None:
        progress = self.training_progress()
        if progress is None:
            return None
        latest = self.player.latest_checkpoint()
        return TrainingStatus(
            episode=progress.episode,
            env_step=progress.env_step,
            epsilon=round(progress.epsilon, 4),
            steps_per_second=round(progress.steps_per_second, 1),
            recent_mean_survival=progress.recent_mean_survival,
            running=progress.running,
            paused=progress.paused,
            curriculum_stage=progress.curriculum_stage,
            latest_checkpoint=latest.name if latest else None,
        )

    # ------------------------------------------------------------ the loop
    async def play_until_fatal(self) -> None:
        """``play_forever``, restarted after each crash until the crashes come too fast."""
        restarts = RestartPolicy()
        while True:
            try:
                await self.play_forever()
            except Exception as error:
                self.play_error = f"{type(error).__name__}: {error}"
                delay = restarts.after_crash()
                if delay is None:
                    self.fatal_error = (
                        f"live play crashed {restarts.max_crashes} times within "
                        f"{restarts.window_seconds:g} s, last with {self.play_error}"
                    )
                    log.exception("%s; giving up", self.fatal_error)
                    return
                log.exception("live play crashed; restarting it in %.1f s", delay)
                await asyncio.sleep(delay)

    async def play_forever(self) -> None:
        poll_every = self.config.live.poll_seconds
        next_poll = next_records = time.monotonic()
        while True:
            started = time.monotonic()
            if started >= next_poll:
                next_poll = started + poll_every
                await self._follow_checkpoints()
            if started >= next_records:
                next_records = started + RECORDS_EVERY_SECONDS
                await self._publish_records()
            if self.player.ready and (not self.play_paused or self.steps_owed > 0):
                self.steps_owed = max(self.steps_owed - 1, 0)
                await self._tick()
            self.play_error = None  # a whole tick went through: healthy again
            # Sleep out the rest of the tick, but wake early when a control asks for it.
            delay = 1.0 / self.steps_per_second - (time.monotonic() - started)
            if self.play_paused and self.steps_owed == 0:
                delay = max(delay, min(next_poll, next_records) - time.monotonic())
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(delay, 0.0))

    async def _tick(self) -> None:
        for message in self.player.tick():
            if isinstance(message, ModelLoaded):
                self.current_model = message
            elif isinstance(message, State):
                self.last_state = message
            elif isinstance(message, EpisodeEnd) and self.current_model is not None:
                self.history.append(
                    HistoryEpisode(
                        episode=message.episode,
                        steps=message.steps,
                        return_=message.return_,
                        cause=message.cause,
                        checkpoint=self.current_model.checkpoint,
                    )
                )
            await self.hub.broadcast(message.to_json())
        if self.comparison is not None:
            await self.hub.broadcast(self.comparison.tick().to_json())

    async def _publish_records(self) -> None:
        status = self.training_status()
        if status is not None:
            self.last_training_status = status
            await self.hub.broadcast(status.to_json())
        metrics, evaluations = await asyncio.to_thread(self.records.poll)
        if metrics is not None:
            await self.hub.broadcast(metrics.to_json())
        for evaluation in evaluations:
            await self.hub.broadcast(evaluation.to_json())
        await self._broadcast_checkpoints()

    async def _broadcast_checkpoints(self, force: bool = False) -> None:
        current = self.checkpoints()
        if force or current != self.last_checkpoints:
            self.last_checkpoints = current
            await self.hub.broadcast(current.to_json())

    async def _broadcast_play_status(self) -> None:
        await self.hub.broadcast(self.play_status().to_json())

    async def _follow_checkpoints(self) -> None:
        if self.follow == "newest":
            await self._look_for_checkpoint()  # reads each new file, so the list shows it
            return
        # Not playing the newest, the server still reads each new file once: the picker lists
        # only files known to read, and the best is chosen among them.
        await asyncio.to_thread(self._judge_new_checkpoints)
        if self.follow == "best":
            await self._look_for_best()

    def _judge_new_checkpoints(self) -> None:
        judged = set(self.catalog.readable())
        for path in self.catalog.candidates():
            if path in judged:
                continue
            try:
                self.catalog.read(path)
            except RejectedCheckpoint as rejection:
                if rejection.first_time:
                    log.warning("skipping checkpoint: %s", rejection.reason)
            except CheckpointMissingError:
                pass  # pruned while we looked

    async def _look_for_best(self) -> None:
        """Hand the best evaluated checkpoint to the player (from the next episode) when it
        changes; until the first evaluation, the newest plays."""
        best = await asyncio.to_thread(self.best_evaluation)
        if best is None:
            await self._look_for_checkpoint()
            return
        playing = self.player.policy.path.name if self.player.policy is not None else None
        if best.checkpoint in (playing, self._best_offered):
            return
        self._best_offered = best.checkpoint
        try:
            policy = await self._read_named(best.checkpoint, self.player)
        except ControlRefused as error:  # pruned or unreadable since: the next best will do
            log.warning("cannot play the best checkpoint: %s", error)
            return
        announcement = self.player.offer(policy)
        if announcement is not None:
            self.current_model = announcement
            await self.hub.broadcast(announcement.to_json())

    async def _look_for_checkpoint(self) -> None:
        # Steps over files that do not read (warning once per file) to the newest that does.
        policy = await asyncio.to_thread(self.player.find_newer_policy)
        if policy is None:
            return
        announcement = self.player.offer(policy)
        if announcement is not None:
            self.current_model = announcement
            await self.hub.broadcast(announcement.to_json())

    async def close(self, code: int = 1001, reason: str = "") -> None:
        """Close every viewer's socket with ``code`` (1001 on shutdown; FOLLOW_CLOSE_CODE when
        the live view moves to another trial, so pages reconnect at once)."""
        if self.comparison is not None:
            self.comparison.close()
            self.comparison = None
        await self.hub.close_all(code=code, reason=reason)
        if self.monitor is not None:
            await asyncio.to_thread(self.monitor.close)
        await asyncio.to_thread(self.records.close)  # history.sqlite, after the monitor's use

"""The live server: FastAPI routes plus the loop that plays and broadcasts."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket, WebSocketDisconnect
from pydantic import ValidationError

from townlet.checkpoints import CheckpointError
from townlet.config import TownletConfig
from townlet.learner.trainer import TrainingProgress
from townlet.live.hub import Hub
from townlet.live.player import LivePlayer, read_policy
from townlet.live.protocol import (
    EpisodeEnd,
    History,
    HistoryEpisode,
    ModelLoaded,
    SetSpeed,
    TrainingStatus,
    WaitingForModel,
)

log = logging.getLogger("townlet.inference")

MIN_STEPS_PER_SECOND = 0.5
MAX_STEPS_PER_SECOND = 60.0
HISTORY_LENGTH = 30  # live episodes replayed to a page that connects


class LiveSession:
    """State shared by the routes and the play loop (all on the server's event loop)."""

    def __init__(
        self,
        config: TownletConfig,
        checkpoint_dir: Path,
        training_progress: Callable[[], TrainingProgress | None],
    ) -> None:
        self.config = config
        self.player = LivePlayer(config, checkpoint_dir)
        self.hub = Hub()
        self.training_progress = training_progress
        self.steps_per_second = config.live.steps_per_second
        self.current_model: ModelLoaded | None = None
        self.last_training_status: TrainingStatus | None = None
        self.wake = asyncio.Event()
        self.history: deque[HistoryEpisode] = deque(maxlen=HISTORY_LENGTH)

    def set_speed(self, steps_per_second: float) -> None:
        self.steps_per_second = min(
            max(steps_per_second, MIN_STEPS_PER_SECOND), MAX_STEPS_PER_SECOND
        )
        self.wake.set()

    def greeting(self) -> list[str]:
        messages: list[str] = [
            self.player.hello(self.steps_per_second).to_json(),
            History(episodes=list(self.history)).to_json(),
        ]
        if self.current_model is not None:
            messages.append(self.current_model.to_json())
        else:
            messages.append(WaitingForModel(message="waiting for the first checkpoint").to_json())
        if self.last_training_status is not None:
            messages.append(self.last_training_status.to_json())
        return messages

    def training_status(self) -> TrainingStatus | None:
        progress = self.training_progress()
        if progress is None:
            return None
        latest = self.player.newer_checkpoint() or (
            self.player.policy.path if self.player.policy else None
        )
        return TrainingStatus(
            episode=progress.episode,
            env_step=progress.env_step,
            epsilon=round(progress.epsilon, 4),
            steps_per_second=round(progress.steps_per_second, 1),
            recent_mean_survival=progress.recent_mean_survival,
            running=progress.running,
            latest_checkpoint=latest.name if latest else None,
        )

    async def play_forever(self) -> None:
        poll_every = self.config.live.poll_seconds
        next_poll = next_status = time.monotonic()
        while True:
            started = time.monotonic()
            if started >= next_poll:
                next_poll = started + poll_every
                await self._look_for_checkpoint()
            if started >= next_status:
                next_status = started + 1.0
                status = self.training_status()
                if status is not None:
                    self.last_training_status = status
                    await self.hub.broadcast(status.to_json())
            if self.player.ready:
                for message in self.player.tick():
                    if isinstance(message, ModelLoaded):
                        self.current_model = message
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
            # Sleep out the rest of the tick, but wake early when the speed changes.
            delay = 1.0 / self.steps_per_second - (time.monotonic() - started)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(delay, 0.0))

    async def _look_for_checkpoint(self) -> None:
        path = self.player.newer_checkpoint()
        if path is None:
            return
        try:
            policy = await asyncio.to_thread(read_policy, path, self.player.world.obs_dim)
        except CheckpointError as error:
            # Pruned between listing and reading, or unusable: say so and keep playing.
            if path.exists():
                log.warning("skipping checkpoint: %s", error)
            return
        announcement = self.player.offer(policy)
        if announcement is not None:
            self.current_model = announcement
            await self.hub.broadcast(announcement.to_json())


def create_app(
    config: TownletConfig,
    checkpoint_dir: Path,
    training_progress: Callable[[], TrainingProgress | None] = lambda: None,
) -> FastAPI:
    session_box: dict[str, LiveSession] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        session = LiveSession(config, checkpoint_dir, training_progress)
        session_box["session"] = session
        player_task = asyncio.create_task(session.play_forever())
        try:
            yield
        finally:
            player_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player_task
            await session.hub.close_all()

    app = FastAPI(title="Townlet live server", lifespan=lifespan)

    @app.get("/health")
    async def health() -> dict[str, object]:
        session = session_box["session"]
        return {
            "status": "ok",
            "config": config.name,
            "playing": session.current_model.checkpoint if session.current_model else None,
            "clients": len(session.hub),
        }

    @app.get("/api/status")
    async def status() -> dict[str, object]:
        session = session_box["session"]
        training = session.training_status()
        return {
            "config": config.name,
            "steps_per_second": session.steps_per_second,
            "model": session.current_model.model_dump() if session.current_model else None,
            "training": training.model_dump() if training else None,
            "live_episode": session.player.episode,
        }

    @app.websocket("/ws")
    async def live_socket(websocket: WebSocket) -> None:
        session = session_box["session"]
        await websocket.accept()
        session.hub.add(websocket, session.greeting())
        try:
            while True:
                _handle_client_message(session, await websocket.receive_text())
        except WebSocketDisconnect:
            pass
        finally:
            await session.hub.remove(websocket)

    return app


def _handle_client_message(session: LiveSession, text: str) -> None:
    """Clients may only change the pace; anything else is ignored, not fatal."""
    try:
        payload = json.loads(text)
        if isinstance(payload, dict) and payload.get("type") == "set_speed":
            session.set_speed(SetSpeed.model_validate(payload).steps_per_second)
    except (json.JSONDecodeError, ValidationError):
        log.debug("ignoring malformed client message: %.80s", text)

"""The live server: FastAPI routes plus the loop that plays and broadcasts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, WebSocket
from fastapi.responses import JSONResponse

from townlet.checkpoints import CheckpointCatalog
from townlet.config import TownletConfig
from townlet.learner.trainer import TrainingProgress
from townlet.live.client_messages import ClientMessageError, parse_client_frame
from townlet.live.guard import RequestGuard
from townlet.live.hub import Hub
from townlet.live.player import LivePlayer
from townlet.live.protocol import (
    MAX_STEPS_PER_SECOND,
    MIN_STEPS_PER_SECOND,
    EpisodeEnd,
    ErrorReply,
    History,
    HistoryEpisode,
    ModelLoaded,
    TrainingStatus,
    WaitingForModel,
)
from townlet.live.restarts import RestartPolicy

log = logging.getLogger("townlet.inference")

HISTORY_LENGTH = 30  # live episodes replayed to a page that connects


class LiveSession:
    """State shared by the routes and the play loop (all on the server's event loop)."""

    def __init__(
        self,
        config: TownletConfig,
        checkpoint_dir: Path,
        training_progress: Callable[[], TrainingProgress | None],
        catalog: CheckpointCatalog | None = None,
    ) -> None:
        self.config = config
        self.player = LivePlayer(config, checkpoint_dir, catalog=catalog)
        self.hub = Hub()
        self.training_progress = training_progress
        self.steps_per_second = config.live.steps_per_second
        self.current_model: ModelLoaded | None = None
        self.last_training_status: TrainingStatus | None = None
        self.wake = asyncio.Event()
        self.history: deque[HistoryEpisode] = deque(maxlen=HISTORY_LENGTH)
        # Set by a crash of the play loop, cleared when it completes a tick again.
        self.play_error: str | None = None
        # Set when the loop crashed too often to restart: the run should stop.
        self.fatal_error: str | None = None

    def set_speed(self, steps_per_second: float) -> None:
        """A finite pace (the message models guarantee it), clamped to the supported range."""
        self.steps_per_second = min(
            max(steps_per_second, MIN_STEPS_PER_SECOND), MAX_STEPS_PER_SECOND
        )
        self.wake.set()

    def answer(self, websocket: WebSocket, event: Mapping[str, object]) -> None:
        """Act on one frame from a client, or tell that client what was wrong with it."""
        try:
            message = parse_client_frame(event)
        except ClientMessageError as error:
            # Client input, not our fault: no traceback, and the client learns why.
            log.debug("refused a client message: %s", error)
            self.hub.send_to(websocket, ErrorReply(message=str(error)).to_json())
            return
        self.set_speed(message.steps_per_second)

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
        latest = self.player.latest_checkpoint()
        return TrainingStatus(
            episode=progress.episode,
            env_step=progress.env_step,
            epsilon=round(progress.epsilon, 4),
            steps_per_second=round(progress.steps_per_second, 1),
            recent_mean_survival=progress.recent_mean_survival,
            running=progress.running,
            latest_checkpoint=latest.name if latest else None,
        )

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
            self.play_error = None  # a whole tick went through: healthy again
            # Sleep out the rest of the tick, but wake early when the speed changes.
            delay = 1.0 / self.steps_per_second - (time.monotonic() - started)
            self.wake.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.wake.wait(), timeout=max(delay, 0.0))

    async def _look_for_checkpoint(self) -> None:
        # Steps over files that do not read (warning once per file) to the newest that does.
        policy = await asyncio.to_thread(self.player.find_newer_policy)
        if policy is None:
            return
        announcement = self.player.offer(policy)
        if announcement is not None:
            self.current_model = announcement
            await self.hub.broadcast(announcement.to_json())


def create_app(
    config: TownletConfig,
    checkpoint_dir: Path,
    training_progress: Callable[[], TrainingProgress | None] = lambda: None,
    *,
    page_origins: Iterable[str] = (),
    catalog: CheckpointCatalog | None = None,
) -> FastAPI:
    """The live server's app. ``page_origins``: where the page itself is served (Vite);
    WebSockets from those and from ``config.live.allowed_origins`` are accepted."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        session = LiveSession(config, checkpoint_dir, training_progress, catalog)
        app.state.session = session  # also how LiveServerThread reads fatal_error
        player_task = asyncio.create_task(session.play_until_fatal())
        try:
            yield
        finally:
            player_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await player_task
            await session.hub.close_all()

    docs = config.live.api_docs
    app = FastAPI(
        title="Townlet live server",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(RequestGuard, allowed_origins=[*page_origins, *config.live.allowed_origins])

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 while live play runs; 503 while it is down after a crash, or has given up."""
        session: LiveSession = app.state.session
        error = session.fatal_error or session.play_error
        state = "failed" if session.fatal_error else "failing" if error else "ok"
        body = {
            "status": state,
            "error": error,
            "config": config.name,
            "playing": session.current_model.checkpoint if session.current_model else None,
            "clients": len(session.hub),
        }
        return JSONResponse(body, status_code=503 if error else 200)

    @app.get("/api/status")
    async def status() -> dict[str, object]:
        session: LiveSession = app.state.session
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
        session: LiveSession = app.state.session
        await websocket.accept()
        session.hub.add(websocket, session.greeting())
        try:
            # receive(), not receive_text(): binary frames must get an answer, not a KeyError.
            while (event := await websocket.receive())["type"] == "websocket.receive":
                session.answer(websocket, event)
        finally:
            session.hub.remove(websocket)

    return app

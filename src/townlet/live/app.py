"""The live server's routes: the WebSocket, health, and every control over HTTP for scripts.

The state and the play loop live in session.py; a control sent over HTTP is parsed by the
same strict model as its WebSocket message and carried out by the same method.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import FastAPI, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from townlet.checkpoints import CheckpointCatalog
from townlet.config import AlertRule, TownletConfig
from townlet.config.errors import issues_from_validation
from townlet.learner.trainer import TrainingProgress
from townlet.live.client_messages import ClientMessageError, parse_body, parse_client_frame
from townlet.live.guard import RequestGuard
from townlet.live.protocol import PROTOCOL_VERSION, FollowTrial
from townlet.live.running import RunningSession
from townlet.live.session import HISTORY_LENGTH, ControlRefused, LiveSession, TrainingControl
from townlet.live.sweep_view import SweepFollower, SweepSetup, TrialSetup, trial_config
from townlet.monitoring.alerts import RuleError
from townlet.monitoring.metrics import CONTENT_TYPE, exposition
from townlet.monitoring.monitor import AlertNotice, Monitor
from townlet.registry import Registry, RegistryError

__all__ = ["HISTORY_LENGTH", "LiveSession", "create_app"]

log = logging.getLogger("townlet.inference")

# HTTP route -> the client message type it stands for (the body holds the other fields).
CONTROL_ROUTES: dict[str, str] = {
    "/api/training/pause": "pause_training",
    "/api/training/resume": "resume_training",
    "/api/play/pause": "pause_play",
    "/api/play/resume": "resume_play",
    "/api/play/step": "step_play",
    "/api/play/speed": "set_speed",
    "/api/play/checkpoint": "pick_checkpoint",
    "/api/compare/start": "start_compare",
    "/api/compare/stop": "stop_compare",
}


def create_app(
    config: TownletConfig,
    checkpoint_dir: Path,
    training_progress: Callable[[], TrainingProgress | None] = lambda: None,
    *,
    page_origins: Iterable[str] = (),
    catalog: CheckpointCatalog | None = None,
    run_dir: Path | None = None,
    training_control: TrainingControl | None = None,
    tensorboard_url: str | None = None,
    runs_dir: Path | None = None,
    run_id: str | None = None,
    run_name: str | None = None,
    token: str | None = None,
    monitoring: bool = True,
    training_pid: int | None = None,
    on_alert: Callable[[AlertNotice], None] | None = None,
    sweep: SweepSetup | None = None,
) -> FastAPI:
    """The live server's app. ``page_origins``: where the page itself is served (Vite);
    WebSockets (and control POSTs) from those and from ``config.live.allowed_origins`` are
    accepted. ``run_dir``: the run folder whose records the charts show. ``token``: required
    of every request when set (guard.py). ``monitoring``, ``training_pid``, ``on_alert``: see
    LiveSession. ``sweep``: serve a sweep (sweep_view.py): the live view plays one trial at a
    time, the best unless a viewer picks one, and ``checkpoint_dir``, ``run_dir``,
    ``training_progress``, ``run_id`` and ``run_name`` are left unused (each trial has its own).
    """

    def publish(session: LiveSession) -> None:
        app.state.session = session  # the routes' session; how LiveServerThread reads fatal_error

    def trial_session(
        trial: TrialSetup, progress: Callable[[], TrainingProgress | None], pid: int | None
    ) -> LiveSession:
        assert sweep is not None
        return LiveSession(
            trial_config(trial, config),
            trial.run_dir / "checkpoints",
            progress,
            run_dir=trial.run_dir,
            tensorboard_url=app.state.tensorboard_url,
            run_id=trial.run_id,
            run_name=trial.name,
            monitoring=monitoring,
            training_pid=pid,
            on_alert=on_alert,
            sweep_id=sweep.sweep_id,
        )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        app.state.tensorboard_url = tensorboard_url
        if sweep is not None:
            follower = SweepFollower(sweep, trial_session, publish, fallback_pid=training_pid)
            app.state.sweep = follower
            await follower.start()
            try:
                yield
            finally:
                await follower.close()
            return
        running = RunningSession(
            LiveSession(
                config,
                checkpoint_dir,
                training_progress,
                catalog,
                run_dir=run_dir,
                training_control=training_control,
                tensorboard_url=tensorboard_url,
                run_id=run_id,
                run_name=run_name,
                monitoring=monitoring,
                training_pid=training_pid,
                on_alert=on_alert,
            )
        )
        publish(running.session)
        running.start()
        try:
            yield
        finally:
            await running.stop()

    docs = config.live.api_docs
    app = FastAPI(
        title="Townlet live server",
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
        openapi_url="/openapi.json" if docs else None,
    )
    app.add_middleware(
        RequestGuard, allowed_origins=[*page_origins, *config.live.allowed_origins], token=token
    )

    def session_of(app: FastAPI) -> LiveSession:
        return app.state.session  # type: ignore[no-any-return]

    @app.get("/health")
    async def health() -> JSONResponse:
        """200 while live play runs; 503 while it is down after a crash, or has given up."""
        session = session_of(app)
        error = session.fatal_error or session.play_error
        state = "failed" if session.fatal_error else "failing" if error else "ok"
        body = {
            "status": state,
            "error": error,
            "protocol_version": PROTOCOL_VERSION,
            "config": config.name,
            "playing": session.current_model.checkpoint if session.current_model else None,
            "run_id": session.run_id,  # in a sweep: the trial the live view plays
            "clients": len(session.hub),
        }
        return JSONResponse(body, status_code=503 if error else 200)

    @app.get("/api/status")
    async def status() -> dict[str, object]:
        session = session_of(app)
        training = session.training_status()
        return {
            "config": config.name,
            "steps_per_second": session.steps_per_second,
            "play": session.play_status().model_dump(exclude={"type"}),
            "model": session.current_model.model_dump() if session.current_model else None,
            "training": training.model_dump() if training else None,
            "live_episode": session.player.episode,
        }

    @app.get("/api/checkpoints")
    async def checkpoints() -> JSONResponse:
        return JSONResponse(json.loads(session_of(app).checkpoints().to_json()))

    @app.get("/api/metrics")
    async def metrics() -> JSONResponse:
        """The training history and every evaluation, as a page gets them on connect."""
        return JSONResponse(json.loads(session_of(app).records.history().to_json()))

    @app.get("/api/runs")
    async def runs() -> JSONResponse:
        """The registry of the runs folder, read-only: every run, newest first."""
        return await asyncio.to_thread(_registry_answer, runs_dir, None)

    @app.get("/api/runs/{run}")
    async def one_run(run: str) -> JSONResponse:
        return await asyncio.to_thread(_registry_answer, runs_dir, run)

    async def run_control(request: Request, kind: str) -> JSONResponse:
        raw = await request.body()
        try:
            fields = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return _refused(422, kind, "the body must be a JSON object (or empty)")
        if not isinstance(fields, dict):
            return _refused(422, kind, "the body must be a JSON object (or empty)")
        frame = json.dumps({**fields, "type": kind})
        try:
            message = parse_client_frame({"type": "websocket.receive", "text": frame})
        except ClientMessageError as error:
            return _refused(422, kind, str(error))
        try:
            said = await session_of(app).control(message)
        except ControlRefused as refusal:
            return _refused(409, kind, str(refusal))
        return JSONResponse({"ok": True, "request": kind, "message": said})

    def control_route(kind: str) -> Callable[[Request], Awaitable[JSONResponse]]:
        async def route(request: Request) -> JSONResponse:
            return await run_control(request, kind)

        return route

    for path, kind in CONTROL_ROUTES.items():
        app.add_api_route(
            path, control_route(kind), methods=["POST"], name=kind, include_in_schema=docs
        )

    # ------------------------------------------------------------ monitoring
    def monitor_of(app: FastAPI) -> Monitor | None:
        return session_of(app).monitor

    @app.get("/metrics")
    async def prometheus_metrics() -> Response:
        """The Prometheus text format (deploy/prometheus.yml scrapes it)."""
        monitor = monitor_of(app)
        if monitor is None:
            return _monitoring_off()
        return Response(exposition(monitor.registry), media_type=CONTENT_TYPE)

    @app.get("/api/alerts")
    async def alerts() -> JSONResponse:
        monitor = monitor_of(app)
        if monitor is None:
            return _monitoring_off()
        return _alerts_answer(monitor)

    async def edit_rules(
        edit: Callable[[Monitor], Awaitable[None]], status: int = 200
    ) -> JSONResponse:
        """Carry out one rule edit; the rules and alerts after it, or why it was refused."""
        monitor = monitor_of(app)
        if monitor is None:
            return _monitoring_off()
        try:
            await edit(monitor)
        except RuleError as error:
            return JSONResponse({"ok": False, "error": str(error)}, status_code=error.status)
        return _alerts_answer(monitor, status)

    @app.post("/api/alerts/rules")
    async def create_rule(request: Request) -> JSONResponse:
        """Body: a rule. 201 with the rules and alerts; 409 if the name is taken."""
        rule = _parse_rule(await request.body())
        if isinstance(rule, JSONResponse):
            return rule
        return await edit_rules(lambda monitor: monitor.add_rule(rule), 201)

    @app.put("/api/alerts/rules/{name}")
    async def replace_rule(request: Request, name: str) -> JSONResponse:
        """Body: the rule that replaces ``name`` (it may rename it). 404 if none."""
        rule = _parse_rule(await request.body())
        if isinstance(rule, JSONResponse):
            return rule
        return await edit_rules(lambda monitor: monitor.replace_rule(name, rule))

    @app.delete("/api/alerts/rules/{name}")
    async def delete_rule(name: str) -> JSONResponse:
        return await edit_rules(lambda monitor: monitor.remove_rule(name))

    @app.get("/api/system")
    async def system() -> JSONResponse:
        """The system samples kept so far (history.sqlite) and, without a GPU, why."""
        monitor = monitor_of(app)
        if monitor is None:
            return _monitoring_off()
        history = monitor.system_history()
        return JSONResponse(
            {
                "samples": [sample.model_dump(mode="json") for sample in history.samples],
                "gpu_note": monitor.gpus.note,
            }
        )

    # ------------------------------------------------------------ a sweep's trials
    def follower_of(app: FastAPI) -> SweepFollower | None:
        return getattr(app.state, "sweep", None)

    @app.get("/api/sweep")
    async def sweep_view() -> JSONResponse:
        """The sweep's trials (status, figures, learning curve), the mean curve across trials
        with its 95% band, the best trial and the one the live view plays."""
        follower = follower_of(app)
        if follower is None or follower.view is None:
            return _not_a_sweep()
        return JSONResponse(follower.view.model_dump(mode="json"))

    @app.post("/api/sweep/follow")
    async def follow_trial(request: Request) -> JSONResponse:
        """Body ``{"run": RUN_ID}`` or ``{"run": "best"}``: the trial the live view plays.
        Its viewers' sockets close with FOLLOW_CLOSE_CODE and reconnect to that trial."""
        kind = "follow_trial"
        follower = follower_of(app)
        if follower is None:
            return _not_a_sweep()
        try:
            body = parse_body(await request.body(), FollowTrial, kind)
        except ClientMessageError as error:
            return _refused(422, kind, str(error))
        try:
            said = await follower.pick(body.run)
        except ControlRefused as refusal:
            return _refused(409, kind, str(refusal))
        follow = follower.view.follow.model_dump() if follower.view is not None else None
        return JSONResponse({"ok": True, "request": kind, "message": said, "follow": follow})

    @app.websocket("/ws")
    async def live_socket(websocket: WebSocket) -> None:
        await websocket.accept()
        # The session after the handshake: in a sweep it may have changed meanwhile.
        session = session_of(app)
        session.hub.add(websocket, session.greeting())
        try:
            # receive(), not receive_text(): binary frames must get an answer, not a KeyError.
            while (event := await websocket.receive())["type"] == "websocket.receive":
                await session.answer(websocket, event)
        finally:
            session.hub.remove(websocket)

    return app


def _registry_answer(runs_dir: Path | None, run: str | None) -> JSONResponse:
    """Read the registry in a worker thread (SQLite connections stay in their thread)."""
    if runs_dir is None:
        return JSONResponse({"error": "this server has no run registry"}, status_code=404)
    try:
        registry = Registry(runs_dir, create=False)
    except RegistryError as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    try:
        if run is None:
            return JSONResponse([record.as_dict() for record in registry.runs()])
        matches = registry.find(run)
        if len(matches) != 1:
            reason = "no such run" if not matches else "that prefix names several runs"
            return JSONResponse({"error": reason}, status_code=404)
        return JSONResponse(matches[0].as_dict())
    except RegistryError as error:
        return JSONResponse({"error": str(error)}, status_code=503)
    finally:
        registry.close()


def _not_a_sweep() -> JSONResponse:
    return JSONResponse({"ok": False, "error": "this server plays a single run, not a sweep"}, 404)


def _monitoring_off() -> JSONResponse:
    return JSONResponse({"ok": False, "error": "monitoring is off on this server"}, 404)


def _alerts_answer(monitor: Monitor, status: int = 200) -> JSONResponse:
    return JSONResponse(monitor.alerts().model_dump(mode="json", exclude={"type"}), status)


_RULE_FIELDS = "name, kind, threshold, for_seconds, severity, enabled"


def _parse_rule(raw: bytes) -> AlertRule | JSONResponse:
    """The body as a strict rule, or a 422 naming each bad field and its fix."""
    try:
        return AlertRule.model_validate_json(raw or b"null")
    except ValidationError as error:
        issues = issues_from_validation(error, AlertRule)
    problems = []
    for field, problem, fix in issues:
        if not field:
            problem, fix = "the body is not a rule", f"send a JSON object with {_RULE_FIELDS}"
        elif field == "name" and "pattern" in problem:
            problem = "the name is not usable in a URL or a Prometheus label"
            fix = "use 1-64 letters, digits, '_', '.' or '-', starting with a letter or digit"
        problems.append({"field": field or None, "problem": problem, "fix": fix})
    summary = "; ".join(
        f"{p['field']}: {p['problem']}: {p['fix']}" if p["field"] else f"{p['problem']}: {p['fix']}"
        for p in problems
    )
    return JSONResponse({"ok": False, "error": summary, "errors": problems}, status_code=422)


def _refused(status: int, kind: str, reason: str) -> JSONResponse:
    return JSONResponse({"ok": False, "request": kind, "error": reason}, status_code=status)

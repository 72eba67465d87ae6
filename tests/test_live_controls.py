"""Controls from the page or a script: each is carried out and acknowledged, or refused with a
reason, the same over the WebSocket and over HTTP; only this run's checkpoints can be named."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import ClientConnection, connect

from tests.support.live import (
    PAGE_ORIGINS,
    get,
    live_server,
    post,
    receive,
    receive_until,
    tiny_trainer,
    wait_for,
)
from townlet.checkpoints import checkpoint_order
from townlet.cli import continue_records
from townlet.evaluation import append_evaluation
from townlet.learner.trainer import DQNTrainer
from townlet.live.server_thread import LiveServerThread
from townlet.run_records import EvaluationPoint, MetricPoint, metrics_log


def send(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    """Send a control; the ack or error that answers it."""
    return exchange(ws, message)[0]


def exchange(
    ws: ClientConnection, message: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """Send a control: (its ack or error, the newest message of each type that came first).

    What a control broadcasts to everyone goes out before the reply to its sender.
    """
    ws.send(json.dumps(message))
    seen: dict[str, dict[str, Any]] = {}
    while True:
        reply = receive(ws)
        if reply["type"] in ("ack", "error"):
            return reply, seen
        seen[reply["type"]] = reply


@pytest.fixture
def trainer(tmp_path: Path) -> DQNTrainer:
    return tiny_trainer(tmp_path)


@pytest.fixture
def server(trainer: DQNTrainer) -> Iterator[LiveServerThread]:
    with live_server(trainer, controls=True) as thread:
        yield thread


@pytest.fixture
def training(trainer: DQNTrainer) -> Iterator[threading.Event]:
    """The trainer's loop in a thread, as run_demo.py runs it."""
    stop = threading.Event()
    thread = threading.Thread(target=trainer.run, args=(stop,))
    thread.start()
    wait_for(lambda: trainer.progress().running, 10, "training to start")
    yield stop
    stop.set()
    thread.join(30)
    assert not thread.is_alive()


def test_pause_stops_training_within_a_second_saves_and_resume_goes_on(
    server: LiveServerThread, trainer: DQNTrainer, training: threading.Event
) -> None:
    status, body = post(server, "/api/training/pause")
    assert status == 200 and body["ok"], body
    took = wait_for(lambda: trainer.progress().paused, 1.0, "training to pause")
    assert took < 1.0
    paused_at = trainer.progress().env_step
    assert trainer.last_saved is not None and f"step{paused_at:012d}" in trainer.last_saved.name
    status, body = post(server, "/api/training/pause")
    assert (status, body["error"]) == (409, "training is already paused")
    assert get(server, "/api/status")[1]["training"]["paused"] is True

    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        reply = send(ws, {"type": "resume_training"})
        assert reply == {"type": "ack", "request": "resume_training", "message": "training resumed"}
    wait_for(lambda: trainer.progress().env_step > paused_at, 5, "env steps after resuming")
    assert trainer.progress().paused is False


def test_requests_that_cannot_be_carried_out_are_refused_with_a_reason(
    tmp_path: Path,
) -> None:
    trainer = tiny_trainer(tmp_path)
    with live_server(trainer) as server, connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        reply = send(ws, {"type": "pause_training"})
        assert reply["request"] == "pause_training"
        assert reply["message"] == "training does not run in this process"
        reply = send(ws, {"type": "step_play"})
        assert "pause it first" in reply["message"]
        for name in ("nope.pt", "../../../etc/passwd", str(trainer.last_saved)):
            reply = send(ws, {"type": "pick_checkpoint", "name": name, "when": "now"})
            assert reply["type"] == "error" and "no checkpoint named" in reply["message"], reply
        reply = send(ws, {"type": "pick_checkpoint", "name": None, "when": "later"})
        assert reply["message"] == 'pick_checkpoint: when must be "now" or "next_episode"'
        assert send(ws, {"type": "stop_compare"})["message"] == "no comparison is running"

        assert post(server, "/api/play/speed", {"steps_per_second": "fast"})[0] == 422
        assert post(server, "/api/play/pause", {"extra": 1})[0] == 422
        status, body = post(server, "/api/play/speed", {"steps_per_second": 12})
        assert (status, body["message"]) == (200, "pace set to 12 steps/s")


def test_control_posts_from_a_foreign_page_are_refused(server: LiveServerThread) -> None:
    evil = {"Origin": "http://evil.example"}
    assert post(server, "/api/play/pause", headers=evil)[0] == 403
    assert get(server, "/api/status")[1]["play"]["paused"] is False
    assert post(server, "/api/play/pause", headers={"Origin": PAGE_ORIGINS[0]})[0] == 200
    assert get(server, "/api/status")[1]["play"]["paused"] is True


def test_paused_play_moves_exactly_one_state_per_step(server: LiveServerThread) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        receive_until(ws, "state")
        assert send(ws, {"type": "pause_play"})["type"] == "ack"
        assert get(server, "/api/status")[1]["play"]["paused"] is True
        before = get(server, "/api/status")[1]["live_episode"]
        assert send(ws, {"type": "step_play"})["message"] == "one step"
        stepped = receive_until(ws, "state")
        with pytest.raises(TimeoutError):
            while True:  # nothing else moves until the next step
                message = json.loads(ws.recv(timeout=0.5))
                assert message["type"] != "state", "a second state while paused"
        assert stepped["episode"] >= before


def test_an_older_checkpoint_plays_at_once_and_following_the_newest_comes_back(
    server: LiveServerThread, trainer: DQNTrainer
) -> None:
    first = trainer.last_saved
    assert first is not None
    trainer.episode, trainer.env_step = 5, 1030
    trainer.save()
    trainer.episode, trainer.env_step = 9, 1100
    newest = trainer.save()
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        wait_for(lambda: get(server, "/health")[1]["playing"] == newest.name, 10, "newest")
        reply, seen = exchange(ws, {"type": "pick_checkpoint", "name": first.name, "when": "now"})
        assert reply["message"] == f"playing {first.name} from now on"
        assert seen["model_loaded"]["checkpoint"] == first.name
        listing = seen["checkpoints"]
        assert (listing["follow"], listing["pinned"]) == ("pinned", first.name)
        assert listing["items"][0]["name"] == first.name
        assert listing["items"][0]["milestone"] is True

        reply = send(ws, {"type": "pick_checkpoint", "name": None})
        assert reply["message"] == "following the newest checkpoint"
        assert receive_until(ws, "model_loaded")["checkpoint"] == newest.name


def test_compare_plays_two_checkpoints_in_lockstep_on_one_layout(
    server: LiveServerThread, trainer: DQNTrainer
) -> None:
    first = trainer.last_saved
    assert first is not None
    trainer.episode, trainer.env_step = 9, 1100
    newest = trainer.save()
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        reply, seen = exchange(ws, {"type": "start_compare"})
        assert reply["message"] == f"comparing {first.name} with {newest.name}"
        started = seen["compare_started"]
        assert (started["left"]["checkpoint"], started["right"]["checkpoint"]) == (
            first.name,
            newest.name,
        )
        states = [receive_until(ws, "compare_state") for _ in range(5)]
        for state in states:
            if not (state["left"]["done"] or state["right"]["done"]):
                assert state["left"]["step"] == state["right"]["step"] == state["step"]
        assert [s["step"] for s in states] == sorted(s["step"] for s in states)

        # A page that connects now sees the comparison too.
        with connect(f"ws://127.0.0.1:{server.port}/ws") as late:
            assert receive_until(late, "compare_started")["seed"] == started["seed"]

        reply, seen = exchange(ws, {"type": "stop_compare"})
        assert reply["type"] == "ack"
        assert seen["compare_stopped"]["reason"] == "stopped by a viewer"


def test_a_page_gets_the_whole_history_of_a_resumed_run_then_live_points(
    tmp_path: Path,
) -> None:
    earlier, now = tmp_path / "runs" / "earlier", tmp_path / "runs" / "now"
    (earlier / "checkpoints").mkdir(parents=True)
    now.mkdir()
    for step in range(100, 600, 100):
        metrics_log(earlier).append(point(step))
    # The earlier run was resumed from its checkpoint at env step 300: 400 and 500 were
    # trained again from there, so they are not part of this run's history.
    continue_records(earlier / "checkpoints" / "ckpt.pt", now, 300)

    trainer = tiny_trainer(tmp_path)
    with live_server(trainer, run_dir=now) as server:
        # A page that comes before the server's first read gets the points just after.
        wait_for(lambda: get(server, "/api/metrics")[1]["total_points"] == 3, 10, "records read")
        with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            history = receive_until(ws, "metrics_history")
            assert [p["env_step"] for p in history["points"]] == [100, 200, 300]
            assert history["total_points"] == 3
            metrics_log(now).append(point(350))
            live = receive_until(ws, "metrics")
            if live["points"] == history["points"]:  # stored, then announced: kept once
                live = receive_until(ws, "metrics")
            assert [p["env_step"] for p in live["points"]] == [350]


def point(env_step: int) -> MetricPoint:
    return MetricPoint(
        env_step=env_step,
        episode=env_step // 10,
        wall_time=1.0,
        training_survival=50.0,
        episode_return=10.0,
        td_loss=0.5,
        epsilon=0.5,
        learning_rate=1e-3,
        steps_per_second=1000.0,
        curriculum_stage=None,
    )


def test_the_registry_is_readable_over_http(tmp_path: Path) -> None:
    from tests.support.runs import record
    from townlet.live.app import create_app
    from townlet.live.server_thread import LiveServerThread, bind_socket
    from townlet.registry import Registry

    runs = tmp_path / "runs"
    registry = Registry(runs)
    mine = registry.register(record(runs / "a", id="abc234", name="mine"))
    registry.register(record(runs / "b", id="xyz789", status="stopped"))
    trainer = tiny_trainer(tmp_path)
    app = create_app(
        trainer.config, trainer.checkpoint_dir, trainer.progress, runs_dir=runs, run_id=mine.id
    )
    server = LiveServerThread(app, bind_socket("127.0.0.1", 0))
    server.start()
    try:
        status, body = get(server, "/api/runs")
        assert status == 200 and {run["id"] for run in body} == {"abc234", "xyz789"}
        status, body = get(server, "/api/runs/abc")
        assert (status, body["name"], body["status"]) == (200, "mine", "running")
        assert get(server, "/api/runs/nope")[0] == 404
        assert post(server, "/api/runs")[0] == 405, "read-only"
        with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            assert receive(ws)["run_id"] == "abc234"
    finally:
        server.stop()


def test_live_play_follows_the_best_evaluated_checkpoint_by_default(
    tmp_path: Path, trainer: DQNTrainer
) -> None:
    """Best by held-out evaluation, not the newest: a later, worse checkpoint does not replace
    it, and the viewer can switch to the newest and back."""
    trainer.episode, trainer.env_step = 5, 1030
    best = trainer.save()
    trainer.episode, trainer.env_step = 9, 1100
    newest = trainer.save()
    evaluations = tmp_path / "run" / "evaluations.jsonl"
    for path, mean in ((best, 24.0), (newest, 9.0)):
        append_evaluation(evaluations, _evaluation(path.name, mean))
    with live_server(trainer, run_dir=tmp_path / "run", controls=True) as server:
        wait_for(lambda: get(server, "/health")[1]["playing"] == best.name, 10, "the best")
        listing = get(server, "/api/checkpoints")[1]
        assert (listing["follow"], listing["best"], listing["best_survival"]) == (
            "best",
            best.name,
            24.0,
        )
        with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            reply = send(ws, {"type": "pick_checkpoint", "name": None, "follow": "newest"})
            assert reply["message"] == "following the newest checkpoint"
            wait_for(lambda: get(server, "/health")[1]["playing"] == newest.name, 10, "newest")
            reply = send(ws, {"type": "pick_checkpoint", "name": None, "follow": "best"})
            assert reply["message"] == "following the best checkpoint"
            wait_for(lambda: get(server, "/health")[1]["playing"] == best.name, 10, "best again")


def test_following_the_best_the_server_reads_and_lists_new_checkpoints_itself(
    tmp_path: Path, trainer: DQNTrainer
) -> None:
    """As run_demo.py runs it: the server's catalog is its own (another process), so it learns
    of new files only by reading them. A better checkpoint written later must be listed and
    played, not the untrained first one that was evaluated first."""
    first = trainer.last_saved
    assert first is not None
    evaluations = tmp_path / "run" / "evaluations.jsonl"
    append_evaluation(evaluations, _evaluation(first.name, 9.0))
    with live_server(trainer, run_dir=tmp_path / "run", own_catalog=True) as server:
        wait_for(lambda: get(server, "/api/checkpoints")[1]["best"] == first.name, 10, "first")
        trainer.episode, trainer.env_step = 5, 1030
        better = trainer.save()
        trainer.episode, trainer.env_step = 9, 1100
        newest = trainer.save()
        append_evaluation(evaluations, _evaluation(better.name, 24.0))
        wait_for(lambda: get(server, "/health")[1]["playing"] == better.name, 10, "the better")
        listed = [c["name"] for c in get(server, "/api/checkpoints")[1]["items"]]
        assert listed == [first.name, better.name, newest.name]


def _evaluation(name: str, mean: float) -> EvaluationPoint:
    step = checkpoint_order(Path(name))
    assert step is not None
    return EvaluationPoint(
        checkpoint=name,
        env_step=step[0],
        episode=step[1],
        worlds=4,
        step_cap=25,
        mean_survival=mean,
        min_survival=1,
        max_survival=25,
        share_at_cap=0.0,
        causes={},
        wall_time=0.0,
    )

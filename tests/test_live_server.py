"""The live server over a real socket: protocol, honest Q-values, checkpoint hand-over."""

from __future__ import annotations

import itertools
import json
import socket
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.live import get, live_server, receive, receive_until, tiny_trainer
from townlet.learner.trainer import DQNTrainer
from townlet.live.app import create_app
from townlet.live.server_thread import LiveServerThread, PortInUseError, bind_socket


@pytest.fixture
def trainer(tmp_path: Path) -> DQNTrainer:
    return tiny_trainer(tmp_path)


@pytest.fixture
def server(trainer: DQNTrainer) -> Iterator[LiveServerThread]:
    with live_server(trainer) as thread:
        yield thread


def test_health_answers_ok(server: LiveServerThread) -> None:
    with urllib.request.urlopen(f"http://127.0.0.1:{server.port}/health", timeout=5) as response:
        assert response.status == 200
        assert json.load(response)["status"] == "ok"


def test_hello_then_model_then_a_greedy_episode(server: LiveServerThread) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        hello = receive(ws)
        assert hello["type"] == "hello"
        assert hello["grid"] == {"width": 8, "height": 8}
        assert hello["actions"] == ["UP", "DOWN", "LEFT", "RIGHT", "INTERACT", "WAIT"]
        assert {a["name"] for a in hello["affordances"]} >= {"Bed", "Job", "Bar", "Park"}
        assert receive(ws) == {"type": "history", "episodes": []}
        greeting = [receive(ws)["type"] for _ in range(4)]
        assert greeting == ["metrics_history", "play_status", "checkpoints", "model_loaded"]

        start = receive_until(ws, "episode_start")
        states = []
        while not (states and states[-1]["done"]):
            message = receive(ws)
            assert message["type"] in {"state", "training_status", "checkpoints", "metrics"}
            if message["type"] == "state":
                states.append(message)
        end = receive_until(ws, "episode_end")

    assert states[0]["step"] == 0 and states[0]["action"] is None
    assert [s["step"] for s in states] == list(range(len(states)))
    assert all(s["episode"] == start["episode"] == end["episode"] for s in states)
    assert end["steps"] == states[-1]["step"] and end["cause"] in {"energy", "health", "step_cap"}
    assert end["return"] == pytest.approx(sum(s["reward"] for s in states), abs=1e-3)
    # Honest decisions: each action taken is the legal argmax of the Q-values shown before it.
    for before, after in itertools.pairwise(states):
        legal = [
            q if ok else float("-inf")
            for q, ok in zip(before["q_values"], before["action_mask"], strict=True)
        ]
        assert hello["actions"][legal.index(max(legal))] == after["action"]


def test_a_page_that_connects_later_gets_the_earlier_episodes(server: LiveServerThread) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        model = receive_until(ws, "model_loaded")
        ended = [receive_until(ws, "episode_end") for _ in range(2)]
    with connect(f"ws://127.0.0.1:{server.port}/ws") as late:
        receive_until(late, "hello")
        history = receive(late)
    assert history["type"] == "history"
    assert [e["episode"] for e in history["episodes"]][:2] == [e["episode"] for e in ended]
    assert history["episodes"][0]["steps"] == ended[0]["steps"]
    assert history["episodes"][0]["checkpoint"] == model["checkpoint"]


def test_a_newer_checkpoint_takes_over_at_the_next_episode(
    server: LiveServerThread, trainer: DQNTrainer
) -> None:
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        first = receive_until(ws, "model_loaded")
        trainer.episode, trainer.env_step = 7, 1234
        newer = trainer.save()
        loaded = receive_until(ws, "model_loaded")
        assert loaded["checkpoint"] == newer.name != first["checkpoint"]
        assert (loaded["episode"], loaded["env_step"]) == (7, 1234)
        # Announced just before the episode it plays, never in the middle of one.
        assert receive(ws)["type"] == "episode_start"


def test_set_speed_changes_the_pace_for_everyone(server: LiveServerThread) -> None:
    def set_speed(ws: ClientConnection, value: float) -> float:
        ws.send(json.dumps({"type": "set_speed", "steps_per_second": value}))
        # Frames are handled in order, so once a bad one is answered the speed is set.
        ws.send("not json")
        assert "not valid JSON" in receive_until(ws, "error")["message"]
        return get(server, "/api/status")[1]["steps_per_second"]

    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        assert receive(ws)["steps_per_second"] == 60.0  # the fixture's pace
        assert set_speed(ws, 12.5) == 12.5
        assert set_speed(ws, 0.01) == 0.5  # clamped to the slowest pace
        assert set_speed(ws, 1000) == 60.0  # and to the fastest
        assert set_speed(ws, 7) == 7.0
    with connect(f"ws://127.0.0.1:{server.port}/ws") as late:
        assert receive(late)["steps_per_second"] == 7.0  # a page opened later sees it too


def test_a_busy_port_is_a_clear_error(trainer: DQNTrainer) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        with pytest.raises(PortInUseError, match=rf"port {port} .* already in use.*--port"):
            bind_socket("127.0.0.1", port)


def test_stopping_closes_open_sockets(trainer: DQNTrainer) -> None:
    thread = LiveServerThread(
        create_app(trainer.config, trainer.checkpoint_dir), bind_socket("127.0.0.1", 0)
    )
    thread.start()
    with connect(f"ws://127.0.0.1:{thread.port}/ws") as ws:
        receive(ws)
        assert thread.stop(timeout=5)
        stopped = time.monotonic()
        # A hang would end in TimeoutError, which is not a ConnectionClosed.
        with pytest.raises(ConnectionClosed):
            for _ in range(10_000):
                ws.recv(timeout=2)
        assert time.monotonic() - stopped < 1.0, "the close should already be on its way"

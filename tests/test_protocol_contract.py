"""The page reads exactly what the server writes: every message type, for all three levels.

Real live servers (one per level) are driven through every control; every text frame they
send is collected and handed to the page's own parser (frontend/tests/contract, run by
vitest), which must accept each one with no field lost. A message type the server can send
that was not collected fails here, so a new message cannot skip the contract.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import typing
from pathlib import Path

import pytest
import torch
from websockets.sync.client import ClientConnection, connect

from tests.support.live import live_server
from tests.support.tiny import PROJECT_ROOT, tiny_config
from townlet.evaluation.greedy import evaluate_checkpoint
from townlet.evaluation.log import append_evaluation
from townlet.learner.trainer import DQNTrainer
from townlet.live import protocol
from townlet.run_records import MetricPoint, metrics_log

VITEST = PROJECT_ROOT / "frontend" / "node_modules" / ".bin" / "vitest"
LEVELS = ("level_1_full_observability", "level_2_pomdp", "level_3_temporal")
# Every type in the protocol's union of server messages.
SERVER_TYPES = {model.model_fields["type"].default for model in typing.get_args(protocol.Message)}


def collect(ws: ClientConnection, into: dict[str, str], until: set[str], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not until <= into.keys():
        assert time.monotonic() < deadline, f"never received {sorted(until - into.keys())}"
        text = ws.recv(timeout=max(deadline - time.monotonic(), 0.1))
        assert isinstance(text, str)
        into[json.loads(text)["type"]] = text  # the newest of each type: the richest


def send(ws: ClientConnection, into: dict[str, str], message: dict[str, object]) -> None:
    ws.send(json.dumps(message))
    collect(ws, into, {"ack"} if message["type"] != "step_play" else set(), 10)


def ws_url(port: int) -> str:
    return f"ws://127.0.0.1:{port}/ws"


def metric(env_step: int, **fields: object) -> MetricPoint:
    values: dict[str, object] = {
        "env_step": env_step,
        "episode": env_step // 10,
        "wall_time": time.time(),
        "training_survival": None,
        "episode_return": None,
        "td_loss": None,
        "epsilon": 1.0,
        "learning_rate": 1e-3,
        "steps_per_second": 0.0,
        "curriculum_stage": None,
    }
    return MetricPoint.model_validate({**values, **fields})


def messages_of(level: str, folder: Path) -> dict[str, str]:
    config = tiny_config(level)
    config = config.model_copy(
        update={
            "world": config.world.model_copy(update={"step_cap": 20}),
            "live": config.live.model_copy(update={"steps_per_second": 60.0, "poll_seconds": 0.05}),
            "evaluation": config.evaluation.model_copy(update={"worlds": 2}),
        }
    )
    trainer = DQNTrainer(config, torch.device("cpu"), folder / "checkpoints")
    run_dir = folder
    got: dict[str, str] = {}
    # No checkpoint yet: the page is told it waits.
    with live_server(trainer, run_dir=run_dir) as server, connect(ws_url(server.port)) as ws:
        collect(ws, got, {"waiting_for_model"}, 10)
    saved = trainer.save()
    metrics_log(run_dir).append(metric(0, curriculum_stage=1))
    evaluation = evaluate_checkpoint(config, saved, trainer.catalog.read(saved))
    with (
        live_server(trainer, run_dir=run_dir, controls=True) as server,
        connect(ws_url(server.port)) as ws,
    ):
        collect(ws, got, {"hello", "history", "metrics_history", "model_loaded"}, 10)
        collect(ws, got, {"episode_start", "state", "episode_end", "training_status"}, 30)
        collect(ws, got, {"alerts", "system_history", "system"}, 10)  # monitoring, every 2 s
        append_evaluation(run_dir / "evaluations.jsonl", evaluation)
        metrics_log(run_dir).append(metric(10, td_loss=0.25, training_survival=12.5))
        collect(ws, got, {"evaluation", "metrics", "checkpoints", "play_status"}, 10)
        ws.send(json.dumps({"type": "nonsense"}))
        collect(ws, got, {"error"}, 10)
        send(ws, got, {"type": "start_compare"})
        collect(ws, got, {"compare_started", "compare_state"}, 10)
        send(ws, got, {"type": "stop_compare"})
        collect(ws, got, {"compare_stopped"}, 10)
    return got


@pytest.mark.skipif(not VITEST.exists(), reason="needs frontend/node_modules (npm ci)")
def test_the_page_parses_every_message_the_server_sends_for_every_level(tmp_path: Path) -> None:
    texts: list[str] = []
    for level in LEVELS:
        got = messages_of(level, tmp_path / level)
        assert got.keys() >= SERVER_TYPES, f"{level}: not collected {SERVER_TYPES - got.keys()}"
        texts += got.values()
    messages = tmp_path / "messages.json"
    messages.write_text(json.dumps(texts))
    result = subprocess.run(
        [str(VITEST), "run", "tests/contract", "--reporter=verbose"],
        cwd=PROJECT_ROOT / "frontend",
        env={**os.environ, "TOWNLET_CONTRACT_MESSAGES": str(messages), "CI": "1"},
        capture_output=True,
        text=True,
        timeout=180,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-4000:]
    assert "skipped" not in output.lower().split("tests")[-1][:80], output[-2000:]
    for kind in SERVER_TYPES:
        assert kind in output, f"the contract run did not check {kind}"

"""The page of a sweep, below the browser: which trial is best, the mean curve and its band, and
a real live server following a sweep's trials over a real socket.

The sweep here is what a running sweep leaves for the server to read: its registry rows, and
per trial a folder with ``metrics.jsonl``, ``evaluations.jsonl`` and a real checkpoint. No Ray:
the server never talks to it (tests/e2e/test_sweep_page.py runs the whole thing).
"""

from __future__ import annotations

import json
import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.support.live import PAGE_ORIGINS, get, receive, wait_for
from tests.support.tiny import tiny_config
from townlet.config import TownletConfig
from townlet.learner.trainer import DQNTrainer
from townlet.live.app import create_app
from townlet.live.protocol import FOLLOW_CLOSE_CODE
from townlet.live.server_thread import LiveServerThread, bind_socket
from townlet.live.sweep_view import SweepSetup, TrialSetup
from townlet.registry import Registry, RunRecord, SweepRecord, this_host
from townlet.run_records import EvaluationPoint, MetricPoint, evaluation_log, metrics_log
from townlet.sweep.standing import (
    BEST_MARGIN,
    TrialScore,
    best_trial,
    mean_band,
    recent_training_survival,
)
from townlet.sweep.stats import mean_interval

# ------------------------------------------------------------------ which trial is best


def test_best_is_the_highest_greedy_evaluation_when_any_trial_has_one() -> None:
    scores = [
        TrialScore("a", greedy=None, training=400.0),  # trains well, never evaluated yet
        TrialScore("b", greedy=120.0, training=90.0),
        TrialScore("c", greedy=150.0, training=80.0),
    ]
    best = best_trial(scores)
    assert best is not None and (best.run_id, best.basis, best.score) == ("c", "greedy", 150.0)


def test_without_greedy_evaluations_the_recent_training_survival_decides() -> None:
    scores = [TrialScore("a", None, 80.0), TrialScore("b", None, 95.0), TrialScore("c", None, None)]
    best = best_trial(scores)
    assert best is not None and (best.run_id, best.basis) == ("b", "training")
    assert best_trial([TrialScore("a", None, None)]) is None
    assert best_trial([]) is None


def test_the_best_trial_keeps_its_place_unless_beaten_by_the_margin() -> None:
    held = 100.0
    just_below = held * (1 + BEST_MARGIN) - 0.5
    just_above = held * (1 + BEST_MARGIN) + 0.5
    close = [TrialScore("a", None, held), TrialScore("b", None, just_below)]
    assert best_trial(close, holder="a").run_id == "a"  # type: ignore[union-attr]
    assert best_trial(close).run_id == "b"  # type: ignore[union-attr]  # no holder: the top
    beaten = [TrialScore("a", None, held), TrialScore("b", None, just_above)]
    assert best_trial(beaten, holder="a").run_id == "b"  # type: ignore[union-attr]
    # Small survivals: at least BEST_MARGIN_STEPS (2) steps better, not 10% of 5 steps.
    small = [TrialScore("a", None, 5.0), TrialScore("b", None, 6.5)]
    assert best_trial(small, holder="a").run_id == "a"  # type: ignore[union-attr]


def test_the_holder_loses_at_once_when_the_basis_moves_to_greedy_without_it() -> None:
    scores = [TrialScore("a", None, 300.0), TrialScore("b", 50.0, 40.0)]
    best = best_trial(scores, holder="a")
    assert best is not None and (best.run_id, best.basis) == ("b", "greedy")


def test_ties_go_to_the_trial_listed_first() -> None:
    scores = [TrialScore("x", None, 10.0), TrialScore("y", None, 10.0)]
    assert best_trial(scores).run_id == "x"  # type: ignore[union-attr]


def test_recent_training_survival_is_the_mean_of_the_last_ten_reports() -> None:
    curve = [(step * 100, float(step)) for step in range(1, 21)]  # values 1..20
    assert recent_training_survival(curve) == pytest.approx(sum(range(11, 21)) / 10)
    assert recent_training_survival([]) is None


# ------------------------------------------------------------------ the mean and its band


def test_the_band_averages_each_stretch_and_counts_only_the_trials_that_reached_it() -> None:
    long = [(step, 10 + step / 10) for step in range(0, 1001, 100)]  # 10, 20, ..., 110
    short = [(step, 30 + step / 10) for step in range(0, 501, 100)]  # 30, ..., 80: stopped at 500
    band = mean_band([long, short], points=5)  # stretches of 200 env steps
    assert [point.env_step for point in band] == [100, 300, 500, 700, 900]
    # Per stretch, each trial's mean over its reports there; the short one ends in the third.
    expected = [[15, 35], [35, 55], [55, 75], [75], [100]]
    for point, values in zip(band, expected, strict=True):
        interval = mean_interval(values)  # the one interval (sweep/stats.py)
        assert point.interval.n == len(values)
        assert point.interval.mean == pytest.approx(interval.mean)
        if point.interval.n == 1:
            assert point.interval.low is None and point.interval.high is None
        else:
            assert point.interval.low == pytest.approx(interval.low)
            assert point.interval.high == pytest.approx(interval.high)


def test_the_band_of_nothing_is_empty_and_of_one_report_is_one_point() -> None:
    assert mean_band([[], []]) == []
    (only,) = mean_band([[(500, 42.0)], []])
    assert only.env_step == 500 and only.interval.n == 1 and only.interval.mean == 42.0


# ------------------------------------------------------------------ the server of a sweep


def _points(survivals: list[float], every: int = 1000) -> list[MetricPoint]:
    return [
        MetricPoint(
            env_step=(i + 1) * every,
            episode=i + 1,
            wall_time=time.time(),
            training_survival=value,
            episode_return=None,
            td_loss=None,
            epsilon=0.5,
            learning_rate=1e-3,
            steps_per_second=1000.0,
            curriculum_stage=None,
        )
        for i, value in enumerate(survivals)
    ]


def _config() -> TownletConfig:
    config = tiny_config()
    return config.model_copy(
        update={"live": config.live.model_copy(update={"steps_per_second": 60.0})}
    )


@pytest.fixture
def sweep(tmp_path: Path) -> SweepSetup:
    """Two running trials: #0 survives about 20 steps in training, #1 about 60."""
    runs = tmp_path / "runs"
    registry = Registry(runs)
    now = time.time()
    registry.register_sweep(
        SweepRecord(
            id="s-testaa",
            name="two seeds",
            config_path="tiny.yaml",
            config_name="tiny",
            status="running",
            pid=os.getpid(),
            host=this_host(),
            ray_address=None,
            trials=2,
            parallel=2,
            settings="{}",
            sweep_dir=str(runs / "sweeps" / "s-testaa"),
            started_at=now,
            heartbeat_at=now,
        )
    )
    trials = []
    for index, (run_id, survival) in enumerate((("aaaaaa", 20.0), ("bbbbbb", 60.0))):
        run_dir = runs / "sweeps" / "s-testaa" / f"trial-{index:02d}_seed-{index}"
        run_dir.mkdir(parents=True)
        DQNTrainer(_config(), torch.device("cpu"), run_dir / "checkpoints").save()
        metrics_log(run_dir).append_all(_points([survival + (i % 3) for i in range(12)]))
        registry.register(
            RunRecord(
                id=run_id,
                name=f"two seeds #{index} seed {index}",
                config_path="tiny.yaml",
                config_name="tiny",
                config_digest="",
                seed=index,
                status="running",
                pid=os.getpid(),
                host=this_host(),
                device="cpu",
                run_dir=str(run_dir),
                started_at=now,
                heartbeat_at=now,
                env_step=12_000,
                episode=12,
                steps_per_second=900.0 + index,
                sweep_id="s-testaa",
            )
        )
        trials.append(TrialSetup(run_id, index, index, "config", f"#{index}", run_dir))
    registry.close()
    return SweepSetup("s-testaa", "two seeds", runs, tuple(trials))


@pytest.fixture
def server(sweep: SweepSetup) -> Iterator[LiveServerThread]:
    app = create_app(
        _config(),
        sweep.trials[0].run_dir / "checkpoints",
        page_origins=PAGE_ORIGINS,
        runs_dir=sweep.runs_dir,
        sweep=sweep,
    )
    thread = LiveServerThread(app, bind_socket("127.0.0.1", 0))
    thread.start()
    try:
        yield thread
    finally:
        assert thread.stop(), "the server thread should end"


def _post(server: LiveServerThread, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{server.port}{path}",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_the_sweep_lists_its_trials_with_curves_and_the_band(server: LiveServerThread) -> None:
    status, view = get(server, "/api/sweep")
    assert status == 200, view
    assert (view["id"], view["name"], view["status"]) == ("s-testaa", "two seeds", "running")
    trials = view["trials"]
    assert [(t["run"], t["index"], t["seed"], t["status"]) for t in trials] == [
        ("aaaaaa", 0, 0, "running"),
        ("bbbbbb", 1, 1, "running"),
    ]
    assert [t["steps_per_second"] for t in trials] == [900.0, 901.0]
    assert all(len(t["curve"]["env_step"]) == 12 == len(t["curve"]["survival"]) for t in trials)
    assert trials[1]["training_survival"] > trials[0]["training_survival"]
    assert [t["greedy"] for t in trials] == [None, None]
    band = view["band"]
    assert band["level"] == 0.95 and band["n"] and set(band["n"]) == {2}
    bounds = zip(band["low"], band["mean"], band["high"], strict=True)
    assert all(low < mean < high for low, mean, high in bounds)
    # Best by default: #1 survives longer in training, and the live view plays it.
    assert view["follow"] == {
        "mode": "best",
        "run": "bbbbbb",
        "best": "bbbbbb",
        "basis": "training",
        "margin": BEST_MARGIN,
    }
    assert [(t["followed"], t["best"]) for t in trials] == [(False, False), (True, True)]
    status, health = get(server, "/health")
    assert status == 200 and health["run_id"] == "bbbbbb"


def test_picking_a_trial_moves_the_viewers_to_it(server: LiveServerThread) -> None:
    url = f"ws://127.0.0.1:{server.port}/ws"
    with connect(url) as ws:
        hello = receive(ws)
        assert (hello["sweep_id"], hello["run_id"]) == ("s-testaa", "bbbbbb")
        status, answer = _post(server, "/api/sweep/follow", b'{"run": "aaaaaa"}')
        assert status == 200, answer
        assert answer["follow"] == {
            "mode": "picked",
            "run": "aaaaaa",
            "best": "bbbbbb",
            "basis": "training",
            "margin": BEST_MARGIN,
        }
        # The old trial's session closes this socket with the code that says "reconnect now".
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(10_000):
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == FOLLOW_CLOSE_CODE
    with connect(url) as ws:
        hello = receive(ws)
        assert hello["run_id"] == "aaaaaa" and hello["run_name"] == "#0"
    wait_for(lambda: get(server, "/health")[1]["playing"] is not None, 10, "a checkpoint plays")
    _, health = get(server, "/health")
    assert health["run_id"] == "aaaaaa"
    checkpoints = server.app.state.sweep.trials["aaaaaa"].run_dir / "checkpoints"
    assert (checkpoints / health["playing"]).is_file()
    _, view = get(server, "/api/sweep")
    assert [(t["followed"], t["best"]) for t in view["trials"]] == [(True, False), (False, True)]
    # Back to the best, which the server then keeps following.
    status, answer = _post(server, "/api/sweep/follow", b'{"run": "best"}')
    assert status == 200 and answer["follow"]["mode"] == "best"
    assert answer["follow"]["run"] == "bbbbbb"
    assert get(server, "/health")[1]["run_id"] == "bbbbbb"


def test_a_greedy_evaluation_makes_its_trial_best_and_the_view_follows_it(
    server: LiveServerThread, sweep: SweepSetup
) -> None:
    """Trial #0 trains worse, but is the only one evaluated greedily: greedy play decides."""
    trial = sweep.trials[0]
    checkpoint = next((trial.run_dir / "checkpoints").iterdir()).name
    evaluation_log(trial.run_dir).append(
        EvaluationPoint(
            checkpoint=checkpoint,
            env_step=12_000,
            episode=12,
            worlds=4,
            step_cap=100,
            mean_survival=42.5,
            min_survival=30,
            max_survival=55,
            share_at_cap=0.0,
            causes={"energy": 4},
            wall_time=time.time(),
        )
    )
    with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
        assert receive(ws)["run_id"] == "bbbbbb"
        # Within a refresh (2 s) the best changes hands and the viewers are sent on to it.
        with pytest.raises(ConnectionClosed) as closed:
            for _ in range(100_000):
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == FOLLOW_CLOSE_CODE
    _, view = get(server, "/api/sweep")
    assert view["follow"]["mode"] == "best"
    assert (view["follow"]["best"], view["follow"]["basis"], view["follow"]["run"]) == (
        "aaaaaa",
        "greedy",
        "aaaaaa",
    )
    greedy = view["trials"][0]["greedy"]
    assert greedy["mean_survival"] == 42.5 and greedy["checkpoint"] == checkpoint
    assert get(server, "/health")[1]["run_id"] == "aaaaaa"


@pytest.mark.parametrize(
    ("body", "status", "says"),
    [
        (b'{"run": "zzzzzz"}', 409, "no trial 'zzzzzz' in sweep s-testaa"),
        (b'{"run": ""}', 422, "follow_trial: run must be the run id of a trial"),
        (b'{"run": 3}', 422, "follow_trial: run must be the run id of a trial"),
        (b'{"run": "aaaaaa", "now": 1}', 422, "follow_trial: unexpected field 'now'"),
        (b"{}", 422, "follow_trial: missing field 'run'"),
        (b"[1]", 422, "the body must be a JSON object"),
        (b"not json", 422, "not valid JSON"),
    ],
)
def test_a_bad_follow_request_is_refused_with_the_reason(
    server: LiveServerThread, body: bytes, status: int, says: str
) -> None:
    got, answer = _post(server, "/api/sweep/follow", body)
    assert got == status, answer
    assert answer["ok"] is False and answer["request"] == "follow_trial"
    assert says in answer["error"], answer
    assert get(server, "/api/sweep")[1]["follow"]["mode"] == "best"


def test_a_single_run_server_says_it_has_no_sweep(tmp_path: Path) -> None:
    config = _config()
    app = create_app(config, tmp_path / "checkpoints")
    thread = LiveServerThread(app, bind_socket("127.0.0.1", 0))
    thread.start()
    try:
        assert get(thread, "/api/sweep")[0] == 404
        assert _post(thread, "/api/sweep/follow", b'{"run": "best"}')[0] == 404
        with connect(f"ws://127.0.0.1:{thread.port}/ws") as ws:
            assert receive(ws)["sweep_id"] is None
    finally:
        assert thread.stop()

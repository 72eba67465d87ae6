"""The training charts' history in the run's history.sqlite: stored from metrics.jsonl and
evaluations.jsonl as the live server reads them, thinned as it ages, carried on by a restarted
reader and by a resumed run, and kept in memory when the database cannot be used."""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

import pytest
from websockets.sync.client import connect

from tests.support.live import get, live_server, receive_until, tiny_trainer, wait_for
from townlet.cli import continue_records
from townlet.evaluation import append_evaluation
from townlet.live.protocol import Metrics, MetricsHistory
from townlet.live.run_history import RunHistory
from townlet.monitoring.history import (
    HISTORY_FILE,
    SCHEMA_VERSION,
    TRAINING_TIERS,
    HistoryStore,
    bucket_of,
    thin_by_age,
)
from townlet.monitoring.system import SystemSample
from townlet.run_records import (
    EvaluationPoint,
    MetricPoint,
    TailPosition,
    evaluation_log,
    metrics_log,
)

HOUR, DAY = 3600.0, 86400.0


def point(env_step: int, wall_time: float, td_loss: float | None = 0.5) -> MetricPoint:
    return MetricPoint(
        env_step=env_step,
        episode=env_step // 10,
        wall_time=wall_time,
        training_survival=40.0,
        episode_return=30.0,
        td_loss=td_loss,
        epsilon=0.1,
        learning_rate=0.0005,
        steps_per_second=1000.0,
        curriculum_stage=None,
    )


def evaluation(env_step: int, wall_time: float) -> EvaluationPoint:
    return EvaluationPoint(
        checkpoint=f"ckpt_step{env_step}.pt",
        env_step=env_step,
        episode=env_step // 10,
        worlds=4,
        step_cap=100,
        mean_survival=50.0,
        min_survival=10,
        max_survival=100,
        share_at_cap=0.25,
        causes={"energy": 2, "health": 1, "step_cap": 1},
        wall_time=wall_time,
    )


def points_over(hours: float, every: float, end: float, first_step: int = 0) -> list[MetricPoint]:
    """A report each ``every`` seconds for ``hours``, the last at ``end``."""
    count = int(hours * HOUR / every)
    return [point(first_step + i, end - (count - 1 - i) * every) for i in range(count)]


def thinned(points: list[MetricPoint]) -> list[int]:
    """The env steps that thinning all of ``points`` at once keeps."""
    kept = thin_by_age(points, points[-1].wall_time, TRAINING_TIERS, lambda p: p.wall_time)
    return [p.env_step for p in kept]


def polled(history: RunHistory) -> tuple[list[int], list[int]]:
    """The env steps of the new points and of the new evaluations that ``poll`` announces."""
    metrics, evaluations = history.poll()
    assert metrics is None or isinstance(metrics, Metrics)
    points = metrics.points if metrics is not None else []
    return [p.env_step for p in points], [e.evaluation.env_step for e in evaluations]


def stored_steps(run_dir: Path) -> list[int]:
    with sqlite3.connect(run_dir / HISTORY_FILE) as db:
        rows = db.execute("SELECT record FROM training_points ORDER BY id").fetchall()
    db.close()
    return [MetricPoint.model_validate_json(text).env_step for (text,) in rows]


# ------------------------------------------------------------------ thinning
def test_thinning_keeps_the_last_hour_whole_then_one_per_10_s_then_one_a_minute(
    tmp_path: Path,
) -> None:
    # 25 hours of reports every 4 s (~4.7 MB of metrics.jsonl: stored a megabyte at a time,
    # thinned as each piece is), then more arriving a poll at a time.
    now = time.time()
    raw = points_over(25, 4.0, now - 400)
    metrics_log(tmp_path).append_all(raw)
    old = evaluation(1, raw[0].wall_time)  # a day old: kept all the same
    append_evaluation(evaluation_log(tmp_path).path, old)
    history = RunHistory(tmp_path)
    message, _ = history.poll()
    assert isinstance(message, MetricsHistory)  # a long backlog: pages get it whole
    backlog = len(raw)
    for step in range(backlog, backlog + 100):
        raw.append(point(step, now - 400 + (step - backlog + 1) * 4.0))
        metrics_log(tmp_path).append(raw[-1])
        if step % 10 == 0:
            history.poll()
    history.poll()
    history.close()

    kept = stored_steps(tmp_path)
    assert kept == thinned(raw)  # incremental thinning keeps what thinning at once would
    # An hour and a day back from the newest point, rounded down to whole buckets.
    hour, day = (tier.cutoff(raw[-1].wall_time) for tier in TRAINING_TIERS)
    assert raw[-1].wall_time - HOUR - 10 < hour <= raw[-1].wall_time - HOUR
    recent = [p.env_step for p in raw if p.wall_time >= hour]
    assert kept[-len(recent) :] == recent  # the last hour whole, the newest included
    times = [p.wall_time for p in raw if p.env_step in set(kept)]
    within_a_day = [t for t in times if day <= t < hour]
    assert len({bucket_of(t, 10) for t in within_a_day}) == len(within_a_day)  # one per 10 s
    assert len(within_a_day) >= 0.95 * (DAY - HOUR) / 10  # and every bucket has its point
    older = [t for t in times if t < day]
    assert len({bucket_of(t, 60) for t in older}) == len(older)  # one a minute
    assert 55 <= len(older) <= 70  # the first hour of the 25
    assert len(kept) < len(raw) / 2
    assert RunHistory(tmp_path).history().evaluations == [old]


def test_the_newest_point_is_kept_however_old_it_is(tmp_path: Path) -> None:
    store = HistoryStore(tmp_path)
    points = points_over(2, 1.0, 1_000_000.0)
    assert store.ingest("metrics", points, TailPosition(0, b""), started_over=False)
    assert store.thin_training(points[-1].wall_time + 30 * DAY)  # all of it old now
    stored = store.training_history(10_000)
    store.close()
    assert stored is not None
    kept = [p.env_step for p in stored[0]]
    assert kept[-1] == points[-1].env_step
    assert len(kept) == len({bucket_of(p.wall_time, 60) for p in points}) + 1


# ------------------------------------------------------------------ readers
def test_a_reload_and_a_second_viewer_get_the_whole_history_after_thinning(
    tmp_path: Path,
) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    raw = points_over(26, 30.0, time.time())  # older than a day: one a minute
    metrics_log(run_dir).append_all(raw)
    append_evaluation(evaluation_log(run_dir).path, evaluation(raw[0].env_step, raw[0].wall_time))
    trainer = tiny_trainer(tmp_path)
    with live_server(trainer, run_dir=run_dir) as server:
        wait_for(lambda: get(server, "/api/metrics")[1]["total_points"] == len(raw), 10, "stored")
        with (
            connect(f"ws://{server.host}:{server.port}/ws") as first,
            connect(f"ws://{server.host}:{server.port}/ws") as second,
        ):
            seen = [receive_until(ws, "metrics_history") for ws in (first, second)]
    with (  # a reload after the server restarted: the database, before or after its first read
        live_server(trainer, run_dir=run_dir) as server,
        connect(f"ws://{server.host}:{server.port}/ws") as reload,
    ):
        seen.append(receive_until(reload, "metrics_history"))
    for history in seen:
        assert [p["env_step"] for p in history["points"]] == thinned(raw)
        assert history["points"][0]["env_step"] == 0 and history["total_points"] == len(raw)
        assert [e["env_step"] for e in history["evaluations"]] == [0]
    assert len(seen[0]["points"]) < len(raw)


def test_a_restarted_reader_neither_repeats_nor_misses_a_point(tmp_path: Path) -> None:
    log_file, start = metrics_log(tmp_path), time.time()
    log_file.append_all([point(step, start + step) for step in range(5)])
    first = RunHistory(tmp_path)
    assert polled(first) == ([0, 1, 2, 3, 4], [])
    log_file.append(point(5, start + 5))
    append_evaluation(evaluation_log(tmp_path).path, evaluation(5, start + 5))
    assert polled(first) == ([5], [5])
    first.close()
    # Written while no server ran, the last line torn (a crash mid-write, or the trainer's
    # write caught halfway).
    log_file.append_all([point(6, start + 6), point(7, start + 7)])
    torn = log_file.path.read_bytes()
    log_file.path.write_bytes(torn[:-40])

    second = RunHistory(tmp_path)
    assert second.history().total_points == 6  # before it reads: what the first one stored
    assert polled(second) == ([6], [])
    assert [e.env_step for e in second.evaluations] == [5]
    assert second.newest is not None and second.newest.env_step == 6
    log_file.path.write_bytes(torn)  # the rest of the line
    assert polled(second) == ([7], [])
    assert second.poll() == (None, [])
    second.close()
    assert stored_steps(tmp_path) == list(range(8))
    assert RunHistory(tmp_path).history().total_points == 8


def test_a_replaced_log_is_read_again_from_its_start(tmp_path: Path) -> None:
    log_file, start = metrics_log(tmp_path), time.time()
    log_file.append_all([point(step, start + step) for step in range(5)])
    first = RunHistory(tmp_path)
    first.poll()
    first.close()
    log_file.path.unlink()  # another run's log in its place, longer than the one read
    log_file.append_all([point(step, start + step, td_loss=0.25) for step in range(100, 110)])
    second = RunHistory(tmp_path)
    message, _ = second.poll()
    second.close()
    assert isinstance(message, MetricsHistory)  # pages drop what they had
    assert [p.env_step for p in message.points] == list(range(100, 110))
    assert message.total_points == 10 and stored_steps(tmp_path) == list(range(100, 110))


# ------------------------------------------------------------------ resumed runs
def test_a_run_resumed_in_its_own_folder_carries_on_its_history(tmp_path: Path) -> None:
    start = time.time()
    metrics_log(tmp_path).append_all([point(step, start + step) for step in range(0, 300, 100)])
    earlier = RunHistory(tmp_path)
    earlier.poll()
    earlier.close()
    metrics_log(tmp_path).append(point(300, start + 300))  # the resumed trainer's first report
    resumed = RunHistory(tmp_path)
    assert [p.env_step for p in resumed.history().points] == [0, 100, 200]
    assert polled(resumed) == ([300], [])
    assert [p.env_step for p in resumed.history().points] == [0, 100, 200, 300]
    resumed.close()


@pytest.mark.parametrize("past_the_checkpoint", [False, True])
def test_a_run_resumed_in_a_new_folder_starts_with_the_history_its_checkpoint_continues(
    tmp_path: Path, past_the_checkpoint: bool
) -> None:
    earlier, later = tmp_path / "earlier", tmp_path / "later"
    (earlier / "checkpoints").mkdir(parents=True)
    later.mkdir()
    start = time.time() - 2 * DAY
    last = 600 if past_the_checkpoint else 300  # 400..600: written after its last checkpoint
    raw = [point(step, start + step * 60) for step in range(0, last + 1, 1)]
    metrics_log(earlier).append_all(raw)
    for step in (100, 300, 500):
        if step <= last:
            append_evaluation(evaluation_log(earlier).path, evaluation(step, start + step * 60))
    history = RunHistory(earlier)
    history.poll()
    assert history.store is not None
    history.store.add(
        SystemSample(t=start, cpu_percent=5.0, memory_bytes=1, memory_total_bytes=2, gpus=[])
    )
    history.close()

    continue_records(earlier / "checkpoints" / "ckpt.pt", later, 300)
    resumed = RunHistory(later)
    message, _ = resumed.poll()
    shown = resumed.history()
    resumed.close()
    continued = raw[:301]
    assert [p.env_step for p in shown.points] == thinned(continued)
    assert shown.total_points == len(continued)
    assert [e.env_step for e in shown.evaluations] == [100, 300]
    # Carried on where the earlier server stopped reading, or stored again from the start.
    assert (message is None) is (not past_the_checkpoint)
    samples = HistoryStore(later)
    assert [s.t for s in samples.load()] == [start]  # the system panel's history came too
    samples.close()


# ------------------------------------------------------------------ no database
@pytest.mark.parametrize("damage", ["corrupt", "a folder in its place", "newer schema"])
def test_a_database_that_cannot_be_used_leaves_the_history_in_memory_with_one_warning(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / HISTORY_FILE
    if damage == "corrupt":
        path.write_bytes(b"not a database, " * 512)
    elif damage == "a folder in its place":
        path.mkdir()
    else:
        with sqlite3.connect(path) as db:
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
        db.close()
    start = time.time()
    metrics_log(tmp_path).append_all([point(step, start + step) for step in range(3)])
    append_evaluation(evaluation_log(tmp_path).path, evaluation(2, start + 2))
    with caplog.at_level(logging.WARNING, logger="townlet.inference"):
        history = RunHistory(tmp_path)
        first = polled(history)
        metrics_log(tmp_path).append(point(3, start + 3))
        later = polled(history)
        shown = history.history()
        history.close()
    assert first == ([0, 1, 2], [2]) and later == ([3], [])
    assert [p.env_step for p in shown.points] == [0, 1, 2, 3] and shown.total_points == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("run history off: could not open")


def test_a_database_that_fails_while_in_use_hands_over_to_memory(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    start = time.time()
    metrics_log(tmp_path).append_all([point(step, start + step) for step in range(3)])
    with caplog.at_level(logging.WARNING, logger="townlet.inference"):
        history = RunHistory(tmp_path)
        history.poll()
        path = tmp_path / HISTORY_FILE
        path.write_bytes(b"overwritten " * (path.stat().st_size // 12))
        metrics_log(tmp_path).append(point(3, start + 3))
        message, _ = history.poll()
        history.close()
    # Pages get the whole history again, read from metrics.jsonl into memory.
    assert isinstance(message, MetricsHistory)
    assert [p.env_step for p in message.points] == [0, 1, 2, 3] and message.total_points == 4
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 1 and warnings[0].startswith("run history off: could not write")


def test_a_database_from_before_the_training_tables_gains_them_and_keeps_its_samples(
    tmp_path: Path,
) -> None:
    with sqlite3.connect(tmp_path / HISTORY_FILE) as db:  # as the system panel alone wrote it
        db.executescript(
            "CREATE TABLE system_samples (t REAL NOT NULL, sample TEXT NOT NULL);"
            "CREATE INDEX system_samples_by_time ON system_samples (t);"
        )
        sample = SystemSample(t=1.0, cpu_percent=5.0, memory_bytes=1, memory_total_bytes=2, gpus=[])
        db.execute("INSERT INTO system_samples VALUES (?, ?)", (1.0, sample.model_dump_json()))
    db.close()
    metrics_log(tmp_path).append(point(1, time.time()))
    history = RunHistory(tmp_path)
    assert history.poll()[0] is not None
    assert history.store is not None and history.store.load() == [sample]
    history.close()
    with sqlite3.connect(tmp_path / HISTORY_FILE) as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    db.close()
    assert stored_steps(tmp_path) == [1]

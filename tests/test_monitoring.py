"""Monitoring on a real live server: /metrics, the system panel's data, alert rules that fire
and resolve, their HTTP API, the webhook, the system history, and alerts in the registry."""

from __future__ import annotations

import http.client
import json
import math
import re
import sqlite3
import statistics
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests.support.live import PAGE_ORIGINS, get, post, receive_until, tiny_trainer, wait_for
from tests.support.runs import record
from tests.support.tiny import PROJECT_ROOT
from townlet import commands
from townlet.config import AlertRule, AlertsConfig
from townlet.learner.trainer import DQNTrainer, TrainingProgress
from townlet.live.app import create_app
from townlet.live.server_thread import LiveServerThread, bind_socket
from townlet.monitoring.alerts import AlertState
from townlet.monitoring.history import SYSTEM_TIERS, HistoryStore, thin_by_age
from townlet.monitoring.metrics import MetricsView, exposition, metrics_registry
from townlet.monitoring.monitor import process_roles
from townlet.monitoring.rule_store import RULES_FILE
from townlet.monitoring.system import GpuSample, SystemSample
from townlet.orchestrator.run_tracker import RunTracker
from townlet.registry import Registry
from townlet.registry.events import EventLog, read_events
from townlet.registry.store import MIGRATIONS, REGISTRY_FILE
from townlet.run_records import EvaluationPoint, MetricPoint, evaluation_log, metrics_log

EVERY = 0.1  # alert evaluations in these tests: ten a second


# ------------------------------------------------------------------ helpers
@contextmanager
def monitored(
    trainer: DQNTrainer,
    run_dir: Path,
    rules: list[AlertRule] | None = None,
    *,
    webhook_url: str | None = None,
    token: str | None = None,
    controls: bool = False,
) -> Iterator[tuple[LiveServerThread, list[dict[str, Any]]]]:
    """A live server on a real socket with these alert rules; also what ``on_alert`` heard."""
    alerts = AlertsConfig(
        rules=rules if rules is not None else AlertsConfig().rules,
        webhook_url=webhook_url,
        evaluate_every_seconds=EVERY,
    )
    notices: list[dict[str, Any]] = []
    app = create_app(
        trainer.config.model_copy(update={"alerts": alerts}),
        trainer.checkpoint_dir,
        trainer.progress,
        page_origins=PAGE_ORIGINS,
        catalog=trainer.catalog,
        run_dir=run_dir,
        training_control=trainer if controls else None,
        run_id="abc234",
        run_name="tiny",
        token=token,
        on_alert=notices.append,
    )
    thread = LiveServerThread(app, bind_socket("127.0.0.1", 0))
    thread.start()
    try:
        yield thread, notices
    finally:
        assert thread.stop(), "the server thread should end"


def alert_of(server: LiveServerThread, name: str) -> dict[str, Any]:
    status, body = get(server, "/api/alerts")
    assert status == 200, body
    return next(alert for alert in body["alerts"] if alert["name"] == name)


def wait_for_state(server: LiveServerThread, name: str, state: str, timeout: float = 10) -> None:
    wait_for(lambda: alert_of(server, name)["state"] == state, timeout, f"{name} {state}")


def request(
    server: LiveServerThread, method: str, path: str, body: object = None
) -> tuple[int, Any]:
    connection = http.client.HTTPConnection(server.host, server.port, timeout=10)
    try:
        data = body if isinstance(body, bytes) else None if body is None else json.dumps(body)
        connection.request(method, path, body=data, headers={"Content-Type": "application/json"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"null")
    finally:
        connection.close()


def metric_point(env_step: int, td_loss: float) -> MetricPoint:
    return MetricPoint(
        env_step=env_step,
        episode=env_step // 100,
        wall_time=time.time(),
        training_survival=50.0,
        episode_return=40.0,
        td_loss=td_loss,
        epsilon=0.5,
        learning_rate=0.0005,
        steps_per_second=1000.0,
        curriculum_stage=None,
    )


def evaluation(env_step: int, survival: float) -> EvaluationPoint:
    return EvaluationPoint(
        checkpoint=f"ckpt_step{env_step}.pt",
        env_step=env_step,
        episode=env_step // 100,
        worlds=4,
        step_cap=500,
        mean_survival=survival,
        min_survival=int(survival),
        max_survival=int(survival),
        share_at_cap=0.0,
        causes={"energy": 4},
        wall_time=time.time(),
    )


class WebhookReceiver:
    """A local HTTP server that takes POSTs; the first ``fail_first`` get a 500."""

    def __init__(self, fail_first: int = 0) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.attempts = 0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(length))
                receiver.attempts += 1
                if receiver.attempts <= fail_first:
                    self.send_response(500)
                else:
                    receiver.bodies.append(body)
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *_args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever)

    def __enter__(self) -> WebhookReceiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture
def trainer(tmp_path: Path) -> DQNTrainer:
    return tiny_trainer(tmp_path)


# ------------------------------------------------------------------ /metrics
def test_metrics_parse_hold_every_series_with_the_run_id_and_answer_fast(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    metrics_log(tmp_path).append(metric_point(1000, 0.25))
    evaluation_log(tmp_path).append(evaluation(1000, 80.0))
    with (
        monitored(trainer, tmp_path) as (server, _),
        # A viewer, so live play counts a message sent to someone.
        connect(f"ws://{server.host}:{server.port}/ws") as ws,
    ):
        receive_until(ws, "system")  # the first sample is in: GPU and checkpoint figures
        wait_for(lambda: "td_loss" in get(server, "/metrics")[1], 5, "records read")
        connection = http.client.HTTPConnection(server.host, server.port, timeout=5)
        times = []
        for _ in range(30):
            started = time.perf_counter()
            connection.request("GET", "/metrics")
            response = connection.getresponse()
            text = response.read().decode()
            times.append(time.perf_counter() - started)
        connection.close()
    assert response.status == 200
    assert response.getheader("Content-Type", "").startswith("text/plain; version=0.0.4")
    assert statistics.median(times) < 0.020, f"median {statistics.median(times) * 1000:.1f} ms"

    samples = {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }
    names = {name for name, _ in samples}
    expected = {
        "townlet_env_steps_total",
        "townlet_episodes_total",
        "townlet_updates_total",
        "townlet_env_steps_per_second",
        "townlet_td_loss",
        "townlet_epsilon",
        "townlet_learning_rate",
        "townlet_greedy_survival_steps",
        "townlet_checkpoint_age_seconds",
        "townlet_checkpoint_size_bytes",
        "townlet_live_viewers",
        "townlet_live_messages_sent_total",
        "townlet_live_messages_dropped_total",
        "townlet_live_episode_survival_steps",
        "townlet_process_cpu_seconds_total",
        "townlet_process_resident_memory_bytes",
        "townlet_process_open_fds",
        "townlet_process_threads",
        "townlet_alert_firing",
    }
    assert expected <= names, sorted(expected - names)
    assert all(dict(labels).get("run_id") == "abc234" for _, labels in samples)
    value = {name: v for (name, labels), v in samples.items() if "process" not in dict(labels)}
    assert value["townlet_td_loss"] == 0.25
    assert value["townlet_greedy_survival_steps"] == 80.0
    assert value["townlet_live_viewers"] == 1
    assert value["townlet_live_messages_sent_total"] > 10
    assert value["townlet_checkpoint_size_bytes"] > 1000
    # One process does both jobs here: measured once, as the training process.
    cpu = [dict(labels) for name, labels in samples if name == "townlet_process_cpu_seconds_total"]
    assert [labels["process"] for labels in cpu] == ["training"]
    # No GPU on this machine: no GPU series at all, rather than zeros.
    assert not any(name.startswith("townlet_gpu_") for name in names)


def test_metrics_carry_the_token_check(trainer: DQNTrainer, tmp_path: Path) -> None:
    with monitored(trainer, tmp_path, token="s3cret") as (server, _):
        assert get(server, "/metrics")[0] == 401
        status, text = get(server, "/metrics", {"Authorization": "Bearer s3cret"})
    assert status == 200 and "townlet_env_steps_total" in text


# ------------------------------------------------------------------ system panel
def test_system_samples_reach_the_page_and_say_why_there_are_no_gpu_cards(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    with monitored(trainer, tmp_path) as (server, _):
        with connect(f"ws://{server.host}:{server.port}/ws") as ws:
            receive_until(ws, "alerts")
            receive_until(ws, "system_history")
            sample = receive_until(ws, "system")["sample"]
        status, body = get(server, "/api/system")
    assert set(sample) == {"t", "cpu_percent", "memory_bytes", "memory_total_bytes", "gpus"}
    assert sample["memory_bytes"] > 10_000_000 and sample["memory_total_bytes"] > 0
    assert sample["gpus"] == []
    assert status == 200 and body["samples"]
    assert body["gpu_note"].startswith("no NVIDIA GPU found")
    # A second server on the same run folder (a reload, a resume) starts with the history.
    with (
        monitored(trainer, tmp_path) as (server, _),
        connect(f"ws://{server.host}:{server.port}/ws") as ws,
    ):
        history = receive_until(ws, "system_history")["samples"]
        if not history:  # loaded from history.sqlite just after this viewer came
            history = receive_until(ws, "system_history")["samples"]
    assert sample["t"] in [s["t"] for s in history]


def test_history_keeps_the_last_hour_whole_and_one_sample_a_minute_before(
    tmp_path: Path,
) -> None:
    now = time.time()
    samples = [
        SystemSample(
            t=now - 7200 + i * 2.0, cpu_percent=1.0, memory_bytes=1, memory_total_bytes=2, gpus=[]
        )
        for i in range(3600)
    ]
    store = HistoryStore(tmp_path)
    for sample in samples:
        store.add(sample)
    store.thin(now)
    kept = store.load()
    store.close()
    recent = [s for s in kept if s.t >= now - 3600]
    older = [s for s in kept if s.t < now - 3660]  # the hour is counted in whole minutes
    assert len(recent) == len([s for s in samples if s.t >= now - 3600])
    assert 58 <= len(older) <= 60
    in_memory = thin_by_age(samples, now, SYSTEM_TIERS, lambda sample: sample.t)
    assert [s.t for s in kept] == [s.t for s in in_memory]


# ------------------------------------------------------------------ alert rules
def test_nan_loss_fires_from_a_nan_line_in_metrics_jsonl_and_resolves(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    rule = AlertRule(name="loss", kind="nan_loss", severity="critical")
    with monitored(trainer, tmp_path, [rule]) as (server, notices):
        metrics_log(tmp_path).append(metric_point(100, 0.5))
        wait_for(lambda: alert_of(server, "loss")["value"] == 0.5, 5, "the loss read")
        metrics_log(tmp_path).append(metric_point(200, math.nan))
        assert "NaN" in (tmp_path / "metrics.jsonl").read_text()  # written as such, not null
        wait_for_state(server, "loss", "firing")
        firing = alert_of(server, "loss")
        metrics_log(tmp_path).append(metric_point(300, 0.4))
        wait_for_state(server, "loss", "resolved")
    assert firing["value"] is None and "nan" in firing["message"]  # JSON has no NaN
    assert firing["since"].endswith("Z")
    assert [n["alert"]["state"] for n in notices] == ["firing", "resolved"]
    assert notices[0]["firing"][0]["name"] == "loss" and notices[1]["firing"] == []


def test_throughput_drop_fires_while_training_is_paused_and_resolves_on_resume(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    rule = AlertRule(name="slow", kind="throughput_drop", threshold=0.5, for_seconds=0.3)
    stop = threading.Event()
    thread = threading.Thread(target=trainer.run, args=(stop,))
    with monitored(trainer, tmp_path, [rule], controls=True) as (server, notices):
        thread.start()
        try:
            wait_for(lambda: trainer.progress().steps_per_second > 0, 15, "a training rate")
            time.sleep(2.0)  # the median's window fills with training rates
            assert alert_of(server, "slow")["state"] == "inactive"
            assert post(server, "/api/training/pause")[0] == 200
            wait_for_state(server, "slow", "firing")
            assert post(server, "/api/training/resume")[0] == 200
            wait_for_state(server, "slow", "resolved")
        finally:
            stop.set()
            thread.join(30)
    assert [n["alert"]["state"] for n in notices] == ["firing", "resolved"]
    assert "below 0.5 x its 5-minute median" in notices[0]["alert"]["message"]


def test_checkpoint_stale_fires_when_checkpoints_stop_and_resolves_on_the_next(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    rule = AlertRule(name="stale", kind="checkpoint_stale", threshold=2.0)
    stop = threading.Event()
    thread = threading.Thread(target=trainer.run, args=(stop,))
    with monitored(trainer, tmp_path, [rule], controls=True) as (server, notices):
        thread.start()
        try:
            # Training saves as it starts, then not for 30 s (checkpoint.every_seconds).
            wait_for_state(server, "stale", "firing")
            assert post(server, "/api/training/pause")[0] == 200  # pausing saves one
            wait_for_state(server, "stale", "resolved")
        finally:
            stop.set()
            thread.join(30)
    assert [n["alert"]["state"] for n in notices[:2]] == ["firing", "resolved"]
    assert "no new checkpoint for" in notices[0]["alert"]["message"]


def test_greedy_drop_fires_below_the_best_and_resolves_when_it_recovers(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    rule = AlertRule(name="worse", kind="greedy_drop", threshold=0.3)
    evaluations = evaluation_log(tmp_path)
    with monitored(trainer, tmp_path, [rule]) as (server, _):
        evaluations.append(evaluation(1000, 200.0))
        evaluations.append(evaluation(2000, 190.0))  # 5% off the best: fine
        wait_for(lambda: alert_of(server, "worse")["value"] == 190.0, 5, "evaluations read")
        assert alert_of(server, "worse")["state"] == "inactive"
        evaluations.append(evaluation(3000, 100.0))
        wait_for_state(server, "worse", "firing")
        evaluations.append(evaluation(4000, 210.0))
        wait_for_state(server, "worse", "resolved")


def test_disk_free_fires_above_the_free_space_and_gpu_memory_never_fires_without_a_gpu(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    rules = [
        AlertRule(name="disk", kind="disk_free", threshold=1e18, severity="critical"),
        AlertRule(name="gpu", kind="gpu_memory", threshold=0.01),
    ]
    with (
        WebhookReceiver(fail_first=1) as hook,
        monitored(trainer, tmp_path, rules, webhook_url=hook.url) as (server, _),
    ):
        wait_for_state(server, "disk", "firing")
        # Lower the limit below the free space: the alert resolves.
        lower = {**rules[0].model_dump(), "threshold": 1024.0}
        assert request(server, "PUT", "/api/alerts/rules/disk", lower)[0] == 200
        wait_for(lambda: len(hook.bodies) >= 2, 10, "both changes at the webhook (one retry)")
        gpu = alert_of(server, "gpu")
    assert gpu["state"] == "inactive" and gpu["message"] == "no GPU"
    firing, resolved = hook.bodies[:2]
    assert hook.attempts >= 3  # the first POST failed and was retried
    assert firing["name"] == "disk" and firing["state"] == "firing"
    assert firing["severity"] == "critical" and firing["run_id"] == "abc234"
    assert "free on the run folder's disk" in firing["message"] and firing["text"]
    assert resolved["state"] == "resolved"


# ------------------------------------------------------------------ the rules API
def test_rules_are_created_replaced_and_deleted_and_kept_in_the_run_folder(
    trainer: DQNTrainer, tmp_path: Path
) -> None:
    rule = {"name": "stale", "kind": "checkpoint_stale", "threshold": 3600, "for_seconds": 5}
    with monitored(trainer, tmp_path, []) as (server, _):
        with connect(f"ws://{server.host}:{server.port}/ws") as ws:
            assert receive_until(ws, "alerts")["rules"] == []
            status, body = request(server, "POST", "/api/alerts/rules", rule)
            assert status == 201
            assert body["rules"] == [{**rule, "severity": "warning", "enabled": True}]
            assert receive_until(ws, "alerts")["rules"][0]["name"] == "stale"
        assert request(server, "POST", "/api/alerts/rules", rule)[0] == 409
        status, body = request(
            server, "PUT", "/api/alerts/rules/stale", {**rule, "severity": "critical"}
        )
        assert status == 200 and body["rules"][0]["severity"] == "critical"
        assert request(server, "PUT", "/api/alerts/rules/nope", rule)[0] == 404
        request(server, "POST", "/api/alerts/rules", {**rule, "name": "other"})
        assert request(server, "DELETE", "/api/alerts/rules/other")[0] == 200
        assert request(server, "DELETE", "/api/alerts/rules/other")[0] == 404
    saved = json.loads((tmp_path / RULES_FILE).read_text())
    assert [r["name"] for r in saved["rules"]] == ["stale"]
    # A server on the same folder (a resume) starts with the edited rules, not the config's.
    with monitored(trainer, tmp_path) as (server, _):
        status, body = get(server, "/api/alerts")
    assert [r["name"] for r in body["rules"]] == ["stale"]
    assert body["alerts"][0]["state"] in ("inactive", "pending")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"name": "x", "kind": "throughput_drop", "threshold": 2}, "threshold", "at most 1"),
        ({"name": "x", "kind": "disk_free", "threshold": "1"}, "threshold", "without quotes"),
        ({"name": "x", "kind": "nan"}, "kind", "nan_loss"),
        ({"name": "a b", "kind": "nan_loss"}, "name", "letters, digits"),
        ({"name": "x", "kind": "nan_loss", "colour": 1}, "colour", "unknown key"),
        ({"name": "x", "kind": "nan_loss", "for_seconds": -1}, "for_seconds", ""),
        ({"name": "x", "kind": "nan_loss", "severity": "high"}, "severity", "critical"),
        ({"kind": "nan_loss"}, "name", ""),
        ([1, 2], None, "JSON object"),
        (b"{not json", None, ""),
    ],
)
def test_bad_rules_get_a_422_naming_the_field_and_the_fix(
    trainer: DQNTrainer, tmp_path: Path, body: object, field: str | None, words: str
) -> None:
    with monitored(trainer, tmp_path, []) as (server, _):
        status, answer = request(server, "POST", "/api/alerts/rules", body)
        assert get(server, "/api/alerts")[1]["rules"] == []
    assert status == 422, answer
    assert answer["ok"] is False and words in answer["error"]
    assert answer["errors"][0]["field"] == field
    assert answer["errors"][0]["fix"]
    assert "Traceback" not in json.dumps(answer)


# ------------------------------------------------------------------ the training side
def test_alerts_reach_events_jsonl_the_registry_and_townlet_status(tmp_path: Path) -> None:
    runs_dir, run_dir = tmp_path / "runs", tmp_path / "runs" / "tiny" / "run"
    run_dir.mkdir(parents=True)
    registry = Registry(runs_dir)
    row = registry.register(record(run_dir))
    tracker = RunTracker(registry, row, EventLog(run_dir, row.id))
    alert = {
        "name": "disk",
        "kind": "disk_free",
        "severity": "critical",
        "state": "firing",
        "since": "2026-01-01T00:00:00.000Z",
        "value": 12.0,
        "message": "12 B free on the run folder's disk (limit 1.0 KiB)",
    }
    tracker.alert({"alert": alert, "firing": [alert]})
    progress = TrainingProgress(1, 100, 0.5, 10.0, None, None, running=True)
    tracker.tick(progress, None)
    events = [e for e in read_events(run_dir / "events.jsonl") if e["event"] == "alert"]
    assert events[0]["name"] == "disk" and events[0]["state"] == "firing"
    status = CliRunner().invoke(commands.cli, ["status", row.id, "--runs-dir", str(runs_dir)])
    assert "1 firing: disk (critical): 12 B free" in status.stdout, status.stdout
    as_json = CliRunner().invoke(
        commands.cli, ["status", row.id, "--json", "--runs-dir", str(runs_dir)]
    )
    assert json.loads(as_json.stdout)["run"]["alerts"][0]["name"] == "disk"
    tracker.alert({"alert": {**alert, "state": "resolved"}, "firing": []})
    tracker._last_beat = 0.0  # the next heartbeat now, not in 2 s
    tracker.tick(progress, None)
    status = CliRunner().invoke(commands.cli, ["status", row.id, "--runs-dir", str(runs_dir)])
    assert "none firing" in status.stdout
    registry.close()


# ------------------------------------------------------------------ deploy/
def test_the_grafana_dashboard_and_prometheus_config_use_only_what_we_export() -> None:
    gpu = GpuSample(
        index=0,
        name="H100",
        utilization_percent=50.0,
        memory_used_bytes=1,
        memory_total_bytes=2,
        temperature_c=40.0,
        power_watts=300.0,
    )
    alert = AlertState(
        name="x",
        kind="nan_loss",
        severity="info",
        state="firing",
        since=None,
        value=None,
        message="",
    )
    view = MetricsView(
        env_steps=1,
        episodes=1,
        updates=1,
        steps_per_second=1.0,
        td_loss=1.0,
        epsilon=1.0,
        learning_rate=1.0,
        training_survival=1.0,
        greedy_survival=1.0,
        greedy_survival_best=1.0,
        training_paused=False,
        checkpoint_time=time.time(),
        checkpoint_size=1,
        live_survival=1,
        gpus=(gpu,),
        alerts=(alert,),
    )
    registry = metrics_registry(lambda: view, "r", process_roles(None))
    exported = {
        sample.name
        for family in text_string_to_metric_families(exposition(registry).decode())
        for sample in family.samples
    }
    dashboard = (PROJECT_ROOT / "deploy" / "grafana" / "townlet.json").read_text()
    queried = set(re.findall(r"townlet_[a-z_]+", dashboard))
    assert queried and queried <= exported, sorted(queried - exported)
    assert {"townlet_gpu_power_watts", "townlet_process_threads"} <= queried
    config = PROJECT_ROOT / "deploy" / "prometheus.yml"
    assert "127.0.0.1:8766" in config.read_text()
    if Path("/usr/bin/promtool").exists():
        check = subprocess.run(
            ["/usr/bin/promtool", "check", "config", str(config)], capture_output=True, text=True
        )
        assert check.returncode == 0, check.stdout + check.stderr


def test_a_registry_of_the_schema_before_gains_the_alerts_column(tmp_path: Path) -> None:
    old = sqlite3.connect(tmp_path / REGISTRY_FILE)
    for migration in MIGRATIONS[:2]:
        old.executescript(migration)
    old.execute("PRAGMA user_version = 2")
    row = record(tmp_path)
    old.execute(
        "INSERT INTO runs (id, name, config_path, config_name, config_digest, seed, status, "
        "host, run_dir, started_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            row.id,
            row.name,
            row.config_path,
            row.config_name,
            row.config_digest,
            row.seed,
            "stopped",
            row.host,
            row.run_dir,
            row.started_at,
        ],
    )
    old.commit()
    old.close()
    registry = Registry(tmp_path)
    upgraded = registry.get(row.id)
    registry.update(row.id, alerts='[{"name": "disk"}]')
    again = registry.get(row.id)
    registry.close()
    assert upgraded is not None and upgraded.alerts is None and upgraded.firing_alerts() == []
    assert again is not None and again.firing_alerts() == [{"name": "disk"}]

"""Sweeps on a real Ray: a local one the sweep starts and stops, and a two-node cluster.

Every test runs the real ``townlet sweep`` as a process with tiny budgets; trials are real
runs (registry rows, folders, checkpoints, TensorBoard, events), evaluated at the end. Each
test checks that no Ray process it caused is left running.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.demo_process import DemoProcess, free_port
from tests.support.sweeps import (
    none_left,
    ray_service_pids,
    run_townlet,
    start_townlet,
    wait_for,
    write_tiny_config,
)
from townlet.registry import Registry, SweepRecord

ray = pytest.importorskip("ray")
from ray.cluster_utils import Cluster  # noqa: E402

SWEEP_TIMEOUT = 240.0  # Ray start, torch imports in each worker, training, evaluation


def _only_sweep(runs_dir: Path) -> SweepRecord:
    registry = Registry(runs_dir, create=False)
    try:
        sweeps = registry.sweeps()
    finally:
        registry.close()
    assert len(sweeps) == 1
    return sweeps[0]


def _trials(runs_dir: Path, sweep_id: str) -> list:
    registry = Registry(runs_dir, create=False)
    try:
        return registry.sweep_trials(sweep_id)
    finally:
        registry.close()


def _running_trials(runs_dir: Path, count: int) -> bool:
    if not (runs_dir / "registry.sqlite").exists():
        return False
    registry = Registry(runs_dir, create=False)
    try:
        sweeps = registry.sweeps()
        if not sweeps:
            return False
        trials = registry.sweep_trials(sweeps[0].id)
        return sum(1 for t in trials if t.status == "running" and t.env_step > 0) >= count
    finally:
        registry.close()


def _finish(process: subprocess.Popen[bytes], log: Path) -> str:
    try:
        process.wait(timeout=SWEEP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
        raise AssertionError(f"the sweep did not end:\n{log.read_text()[-4000:]}") from None
    return log.read_text(errors="replace")


def test_local_sweep_trials_results_and_a_failing_trial(tmp_path: Path) -> None:
    before = ray_service_pids()
    config = write_tiny_config(tmp_path)
    runs_dir = tmp_path / "runs"
    log = tmp_path / "sweep.log"
    process = start_townlet(
        [
            "sweep",
            str(config),
            "--seeds",
            "3",
            "--parallel",
            "2",
            "--env-steps",
            "3k",
            "--milestones",
            "1k,2k",
            "--runs-dir",
            str(runs_dir),
        ],
        log,
        TOWNLET_SWEEP_FAULT="2",  # the third trial raises once it trains
    )
    output = _finish(process, log)
    assert process.returncode == 1, output  # a failed trial: exit code 1, the others went on
    none_left(before)

    sweep = _only_sweep(runs_dir)
    assert sweep.status == "failed" and sweep.end_reason == "1 of 3 trial(s) failed"
    trials = _trials(runs_dir, sweep.id)
    assert [t.status for t in trials] == ["completed", "completed", "failed"], output
    assert "fault injected into trial 2" in (trials[2].error or "")
    for trial in trials:
        run_dir = Path(trial.run_dir)
        assert run_dir.parent == Path(sweep.sweep_dir)
        for part in ("events.jsonl", "run.log", "metrics.jsonl", "config.yaml", "trial.json"):
            assert (run_dir / part).is_file(), part
        assert any((run_dir / "tensorboard").iterdir())
        assert list((run_dir / "checkpoints").glob("ckpt_*.pt"))
        events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
        assert events[-1]["event"] == "run_finished"
        assert events[-1]["status"] == trial.status
    assert trials[0].best_greedy is not None  # evaluations.jsonl fed the registry

    sweep_dir = Path(sweep.sweep_dir)
    markdown = (sweep_dir / "results.md").read_text()
    rows = (sweep_dir / "results.csv").read_text().splitlines()
    assert [row.split(",")[:3] for row in rows[1:]] == [
        ["1000", "config", "2"],
        ["2000", "config", "2"],
        ["3000", "config", "2"],
        ["final", "config", "2"],
    ]
    assert "95% CI" in markdown and "fault injected" in markdown
    assert (sweep_dir / "results.svg").read_text().startswith("<svg")
    outcome = json.loads((Path(trials[0].run_dir) / "trial.json").read_text())
    caps = {(e["milestone"], e["cap_factor"], e["step_cap"]) for e in outcome["evaluations"]}
    assert {(1000, 1, 100), (1000, 10, 1000), (None, 1, 100), (None, 10, 1000)} <= caps
    assert outcome["env_step"] >= 3000

    listing = run_townlet(["list", "--runs-dir", str(runs_dir)])
    assert listing.returncode == 0, listing.stderr
    heading = next(line for line in listing.stdout.splitlines() if line.startswith("sweep "))
    assert sweep.id in heading and "2 completed, 1 failed" in heading
    compared = run_townlet(["compare", sweep.id, "--runs-dir", str(runs_dir)])
    assert compared.returncode == 0, compared.stderr
    assert "| 2k | config | 2 |" in compared.stdout


def test_ctrl_c_stops_every_trial_with_a_final_checkpoint(tmp_path: Path) -> None:
    before = ray_service_pids()
    config = write_tiny_config(tmp_path)
    runs_dir = tmp_path / "runs"
    log = tmp_path / "sweep.log"
    process = start_townlet(
        [
            "sweep",
            str(config),
            "--seeds",
            "2",
            "--parallel",
            "2",
            "--milestones",
            "1k",
            "--runs-dir",
            str(runs_dir),
        ],
        log,
    )
    try:
        wait_for(lambda: _running_trials(runs_dir, 2), SWEEP_TIMEOUT, "two trials training")
    except AssertionError:
        process.kill()
        raise
    process.send_signal(signal.SIGINT)
    output = _finish(process, log)
    assert process.returncode == 0, output
    assert "stopping the sweep (Ctrl+C)" in output
    none_left(before)
    sweep = _only_sweep(runs_dir)
    assert sweep.status == "stopped"
    for trial in _trials(runs_dir, sweep.id):
        assert trial.status == "stopped", trial
        assert trial.end_reason == "the sweep was stopped; final checkpoint written"
        final = json.loads((Path(trial.run_dir) / "trial.json").read_text())
        assert any(e["milestone"] is None for e in final["evaluations"])


@pytest.fixture(scope="module")
def two_nodes() -> Iterator[Cluster]:
    """A real Ray cluster of two nodes with one CPU each, on this machine."""
    before = ray_service_pids()
    cluster = Cluster(
        initialize_head=True,
        head_node_args={"num_cpus": 1, "include_dashboard": False},
    )
    cluster.add_node(num_cpus=1)
    cluster.wait_for_nodes()
    yield cluster
    cluster.shutdown()
    none_left(before)


def test_trials_spread_over_two_nodes_and_stop_from_another_terminal(
    tmp_path: Path, two_nodes: Cluster
) -> None:
    config = write_tiny_config(tmp_path)
    runs_dir = tmp_path / "runs"
    log = tmp_path / "sweep.log"
    process = start_townlet(
        [
            "sweep",
            str(config),
            "--seeds",
            "2",
            "--parallel",
            "2",
            "--cpus-per-run",
            "1",
            "--milestones",
            "1k",
            "--ray-address",
            two_nodes.address,
            "--runs-dir",
            str(runs_dir),
        ],
        log,
    )
    try:
        wait_for(lambda: _running_trials(runs_dir, 2), SWEEP_TIMEOUT, "two trials training")
        sweep = _only_sweep(runs_dir)
        stopped = run_townlet(
            ["stop", sweep.id, "--runs-dir", str(runs_dir), "--timeout", "120"], timeout=150
        )
    finally:
        output = _finish(process, log)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert process.returncode == 0, output
    trials = _trials(runs_dir, sweep.id)
    assert [t.status for t in trials] == ["stopped", "stopped"]
    # Each trial sees its own stop request or the sweep's, whichever comes first.
    assert all(
        t.end_reason
        in (
            "townlet stop; final checkpoint written",
            "the sweep was stopped; final checkpoint written",
        )
        for t in trials
    ), [t.end_reason for t in trials]
    nodes = {json.loads((Path(t.run_dir) / "trial.json").read_text())["node_id"] for t in trials}
    alive = {node["NodeID"] for node in _nodes(two_nodes)}
    assert len(nodes) == 2 and nodes <= alive  # one trial on each node
    # The cluster was not ours: it is still there, both nodes alive.
    assert len(alive) == 2


def test_more_gpus_than_the_cluster_has_is_refused(tmp_path: Path, two_nodes: Cluster) -> None:
    config = write_tiny_config(tmp_path)
    result = run_townlet(
        [
            "sweep",
            str(config),
            "--seeds",
            "1",
            "--gpus-per-run",
            "1",
            "--ray-address",
            two_nodes.address,
            "--runs-dir",
            str(tmp_path / "runs"),
        ],
        timeout=120,
    )
    assert result.returncode == 2, result.stderr
    assert "--gpus-per-run 1 asks for more GPUs than any node has" in result.stderr
    assert not (tmp_path / "runs").exists()


def _nodes(cluster: Cluster) -> list[dict]:
    """The cluster's live nodes, asked from a short-lived process (this one stays Ray-free)."""
    script = (
        f"import json, ray; ray.init(address={cluster.address!r}, logging_level='ERROR'); "
        "print(json.dumps([n for n in ray.nodes() if n['Alive']])); ray.shutdown()"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_run_demo_runs_many_as_a_sweep(tmp_path: Path) -> None:
    """With budgets: every trial completes, Ray stops, and the live server stays (as a single
    run's does once its budget is reached) until Ctrl+C."""
    before = ray_service_pids()
    config = write_tiny_config(tmp_path)
    runs_dir = tmp_path / "runs"
    demo = DemoProcess(
        [
            "--config",
            str(config),
            "--runs",
            "2",
            "--parallel",
            "2",
            "--episodes",
            "40",
            "--experiment-name",
            "two seeds",
            "--runs-dir",
            str(runs_dir),
            "--port",
            str(free_port()),
            "--no-frontend",
            "--no-browser",
        ]
    )
    try:
        demo.wait_for_line("every trial has ended; the live view plays on", SWEEP_TIMEOUT)
        none_left(before)  # Ray is stopped as soon as the sweep is over
        demo.interrupt()
        assert demo.process.wait(timeout=30) == 0
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()
    demo.drain()
    sweep = _only_sweep(runs_dir)
    assert sweep.name == "two seeds" and sweep.status == "completed"
    trials = _trials(runs_dir, sweep.id)
    assert [(t.seed, t.status, t.end_reason) for t in trials] == [
        (0, "completed", "episode budget reached"),
        (1, "completed", "episode budget reached"),
    ]
    assert "| final | config | 2 |" in demo.log()

"""How fast ``townlet list`` answers with 10,000 runs, and what a heartbeat costs a run.

Fills a temporary registry with 10,000 runs (mostly finished, some running, some lost), then
times ``python -m townlet list`` (and ``--all``, ``--json``) end to end in a fresh process each time
(Python start-up included; output to a pipe), median of 5. Target: under 200 ms. Also times
``Registry.heartbeat()`` (one write transaction, as a run makes every 2 s) on that registry.

.venv/bin/python benchmarks/bench_registry.py [--runs 10000] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
from benchmarks.machine import cpu_model, describe_busy
from townlet.registry import Registry, RunRecord, new_run_id, this_host
from townlet.registry.records import RUN_COLUMNS

RESULTS = Path(__file__).resolve().parent / "results" / "registry.md"
TARGET_MS = 200.0
HEARTBEATS = 200


def fill(runs_dir: Path, count: int) -> None:
    """``count`` runs: the schema by ``Registry``, the rows in one transaction (a run
    registers itself once; inserting 10,000 one transaction each only slows the set-up)."""
    Registry(runs_dir).close()
    now, host = time.time(), this_host()
    statuses = ["stopped", "completed", "failed"]
    ids: set[str] = set()
    rows = []
    for i in range(count):
        while (run_id := new_run_id()) in ids:
            pass
        ids.add(run_id)
        started = now - (count - i) * 60.0
        if i >= count - 10:  # the newest ten are running, heartbeat fresh
            status, heartbeat, pid = "running", now, os.getpid()
        elif i % 100 == 0:  # an active status, stale heartbeat, pid gone: shows as lost
            status, heartbeat, pid = "running", started + 30.0, 2**22 + i
        else:
            status, heartbeat, pid = statuses[i % 3], started + 50.0, None
        record = RunRecord(
            id=run_id,
            name=f"level_1_full_observability-{i}",
            config_path="configs/level_1_full_observability.yaml",
            config_name="level_1_full_observability",
            config_digest=f"{i % 7:064x}",
            seed=i % 5,
            status=status,
            pid=pid,
            host=host,
            device="cpu",
            run_dir=str(runs_dir / "level_1_full_observability" / run_id),
            started_at=started,
            ended_at=None if status == "running" else started + 55.0,
            heartbeat_at=heartbeat,
            episode=i * 13,
            env_step=i * 12_345,
            steps_per_second=1500.0 + i % 300,
            best_greedy=float(i % 500),
            end_reason=None if status == "running" else "final checkpoint written",
        )
        rows.append([getattr(record, column) for column in RUN_COLUMNS])
    db = sqlite3.connect(runs_dir / "registry.sqlite")
    with db:
        marks = ", ".join("?" for _ in RUN_COLUMNS)
        db.executemany(f"INSERT INTO runs ({', '.join(RUN_COLUMNS)}) VALUES ({marks})", rows)
    db.close()


def time_command(args: list[str], rounds: int) -> tuple[float, int]:
    """Median wall milliseconds of a fresh ``python -m townlet ...``, and its output size."""
    # As installed: with bytecode caches (this sandbox sets PYTHONDONTWRITEBYTECODE, which
    # would compile every module on every start). The first round writes them and warms the
    # page cache; it is not counted.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    times, size = [], 0
    for _ in range(rounds + 1):
        started = time.perf_counter()
        done = subprocess.run(
            [sys.executable, "-m", "townlet", *args], capture_output=True, check=True, env=env
        )
        times.append((time.perf_counter() - started) * 1000)
        size = len(done.stdout)
    return statistics.median(times[1:]), size


def time_heartbeat(runs_dir: Path) -> float:
    """Mean microseconds per ``Registry.heartbeat()`` on the newest running run."""
    registry = Registry(runs_dir)
    run_id = registry.runs(limit=1)[0].id
    registry.heartbeat(run_id, episode=1, env_step=1)  # first write: not counted
    started = time.perf_counter()
    for step in range(HEARTBEATS):
        registry.heartbeat(run_id, episode=step, env_step=step * 100, steps_per_second=1500.0)
    mean_us = (time.perf_counter() - started) / HEARTBEATS * 1e6
    registry.close()
    return mean_us


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    busy_before = describe_busy("before the run")
    with tempfile.TemporaryDirectory(prefix="townlet-bench-registry-") as tmp:
        runs_dir = Path(tmp)
        fill(runs_dir, args.runs)
        base = ["--runs-dir", str(runs_dir)]
        start_ms, _ = time_command(["--help"], args.rounds)
        list_ms, list_bytes = time_command(["list", *base], args.rounds)
        all_ms, all_bytes = time_command(["list", "--all", *base], args.rounds)
        json_ms, json_bytes = time_command(["list", "--json", *base], args.rounds)
        filtered_ms, _ = time_command(["list", "--status", "running", *base], args.rounds)
        heartbeat_us = time_heartbeat(runs_dir)
    busy_after = describe_busy("after the run")

    def verdict(ms: float) -> str:
        return "yes" if ms < TARGET_MS else "**no**"

    lines = [
        "# Run registry: `townlet list` and the heartbeat",
        "",
        f"{args.runs:,} runs in a temporary registry (1% lost, 10 running). Each command is a "
        f"fresh `python -m townlet ...` process, output to a pipe, Python start-up included; "
        f"median of {args.rounds}, bytecode cached. Made by `benchmarks/bench_registry.py`.",
        "",
        f"- CPU: {cpu_model()}, {os.cpu_count()} logical cores",
        f"- {platform.python_implementation()} {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, registry in {tempfile.gettempdir()}",
        busy_before,
        busy_after,
        "",
        f"| command | ms | output | under {TARGET_MS:.0f} ms |",
        "|---|---:|---:|:---:|",
        f"| `townlet --help` (start-up alone) | {start_ms:.0f} | | |",
        f"| `townlet list` (active runs + newest 20) | {list_ms:.0f} | {list_bytes / 1e3:.1f} kB "
        f"| {verdict(list_ms)} |",
        f"| `townlet list --all` | {all_ms:.0f} | {all_bytes / 1e6:.1f} MB | {verdict(all_ms)} |",
        f"| `townlet list --json` | {json_ms:.0f} | {json_bytes / 1e6:.1f} MB "
        f"| {verdict(json_ms)} |",
        f"| `townlet list --status running` | {filtered_ms:.0f} | | {verdict(filtered_ms)} |",
        "",
        f"`Registry.heartbeat()`: {heartbeat_us:,.0f} µs per call (mean of {HEARTBEATS}; one "
        f"write transaction, committed to disk in WAL mode). At one call per 2 s a run spends "
        f"{heartbeat_us / 2e6 * 100:.3f}% of its time in it (if the training loop itself "
        "makes the call; none if a side thread does).",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    RESULTS.write_text(text, encoding="utf-8")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()

"""The ``townlet`` command against a real registry in a temporary runs folder.

Runs are registered through the Registry API, with fake run folders (run.log, events.jsonl).
A run that "runs" is a thread that keeps its heartbeat fresh and, like a real run, ends
"stopped" once it sees ``stop_requested``. A few tests start ``python -m townlet`` for real.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner, Result

from townlet import commands
from townlet.registry import Registry, RunRecord, this_host
from townlet.registry.events import EventLog
from townlet.registry.records import RUN_COLUMNS
from townlet.registry.store import REGISTRY_FILE

PROJECT_ROOT = Path(__file__).resolve().parents[1]
LEVEL_1 = PROJECT_ROOT / "configs" / "level_1_full_observability.yaml"
DEADLINE = 30.0  # seconds any awaited condition gets before the test fails


@pytest.fixture
def runs_dir(tmp_path: Path) -> Path:
    return tmp_path / "runs"


@pytest.fixture
def registry(runs_dir: Path) -> Iterator[Registry]:
    registry = Registry(runs_dir)
    yield registry
    registry.close()


def add_run(
    registry: Registry,
    runs_dir: Path,
    run_id: str,
    *,
    status: str = "stopped",
    started_ago: float = 60.0,
    heartbeat_ago: float = 0.0,
    pid: int | None = None,
    config_name: str = "level_1_full_observability",
    log: str = "",
    events: int = 0,
    **fields: object,
) -> RunRecord:
    """A run row and its folder: ``log`` as run.log, ``events`` progress events."""
    run_dir = runs_dir / config_name / run_id
    run_dir.mkdir(parents=True)
    if log:
        (run_dir / "run.log").write_text(log, encoding="utf-8")
    event_log = EventLog(run_dir, run_id)
    for number in range(events):
        event_log.emit("progress", episode=number, env_step=number * 100)
    now = time.time()
    values: dict[str, object] = {
        "id": run_id,
        "name": f"{config_name}-{run_id}",
        "config_path": str(LEVEL_1),
        "config_name": config_name,
        "config_digest": "d" * 64,
        "seed": 0,
        "status": status,
        "pid": os.getpid() if pid is None else pid,  # a live process unless told otherwise
        "host": this_host(),
        "device": "cpu",
        "run_dir": str(run_dir),
        "started_at": now - started_ago,
        "heartbeat_at": now - heartbeat_ago,
    }
    return registry.register(RunRecord(**{**values, **fields}))  # type: ignore[arg-type]


def invoke(runs_dir: Path, *args: str, input: str | None = None) -> Result:
    return CliRunner().invoke(commands.cli, [*args, "--runs-dir", str(runs_dir)], input=input)


def dead_pid() -> int:
    """The pid of a process that has ended (and been reaped)."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def wait_for(condition: object, what: str, seconds: float = DEADLINE) -> None:
    deadline = time.monotonic() + seconds
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.02)


class FakeRun:
    """A run's side of the registry, in a thread with its own connection: a heartbeat every
    50 ms, and (if ``obeys``) a last log line and the end "stopped" once stop is requested."""

    def __init__(self, runs_dir: Path, run_id: str, obeys: bool = True) -> None:
        self.runs_dir = runs_dir
        self.run_id = run_id
        self.obeys = obeys
        self.finish_now = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"fake-run-{run_id}")

    def __enter__(self) -> FakeRun:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join(DEADLINE)

    def _loop(self) -> None:
        registry = Registry(self.runs_dir)
        try:
            while not self._done.wait(0.05):
                registry.heartbeat(self.run_id)
                record = registry.get(self.run_id)
                assert record is not None
                asked = record.stop_requested and self.obeys
                if asked or self.finish_now.is_set():
                    with (Path(record.run_dir) / "run.log").open("a") as log:
                        log.write("final checkpoint written\n")
                    reason = "final checkpoint written" if asked else "episode budget reached"
                    registry.finish(self.run_id, "stopped" if asked else "completed", reason)
                    return
        finally:
            registry.close()


class Lines:
    """A process's stdout, line by line, awaited with a deadline (a reader thread)."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self._queue: queue.Queue[str] = queue.Queue()
        assert process.stdout is not None
        stdout = process.stdout
        self._thread = threading.Thread(target=lambda: [*map(self._queue.put, stdout)])
        self._thread.start()

    def next(self) -> str:
        return self._queue.get(timeout=DEADLINE)

    def close(self) -> None:
        self._thread.join(DEADLINE)


def _as_in_a_terminal() -> None:
    """Ctrl+C as a command in a terminal's foreground gets it, whatever this process has: a
    CI that runs pytest in the background of a non-interactive shell ignores SIGINT, and its
    children would inherit that."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def townlet_process(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "townlet", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
        preexec_fn=_as_in_a_terminal,
    )


@contextmanager
def following(*args: str) -> Iterator[tuple[subprocess.Popen[str], Lines]]:
    """``python -m townlet ARGS`` with its stdout read line by line; nothing left behind."""
    process = townlet_process(*args)
    lines = Lines(process)
    try:
        yield process, lines
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(DEADLINE)
        lines.close()
        for pipe in (process.stdout, process.stderr):
            assert pipe is not None
            pipe.close()


# ---------------------------------------------------------------- list


def test_list_shows_runs_newest_first_with_their_effective_status(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "old222", started_ago=3 * 86400, env_step=1_234_567, episode=42)
    add_run(
        registry, runs_dir, "lost33", status="running", started_ago=7200, heartbeat_ago=3600,
        pid=dead_pid(),
    )  # fmt: skip
    add_run(
        registry, runs_dir, "new444", status="running", started_ago=180, best_greedy=312.5,
        steps_per_second=1520.0,
    )  # fmt: skip

    result = invoke(runs_dir, "list")

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["ID", "NAME", "STATUS"]
    assert [line.split()[0] for line in lines[1:]] == ["new444", "lost33", "old222"]
    assert lines[1].split()[2:4] == ["running", "3m"]
    assert "312.5" in lines[1] and "1.5k" in lines[1]
    assert lines[2].split()[2:4] == ["lost", "2h"]
    assert lines[3].split()[2:] == ["stopped", "3d", "42", "1.2M", "-", "-", "cpu"]
    assert "\x1b[" not in result.output  # no colours when stdout is not a terminal


def test_list_json_is_every_field_with_the_effective_status(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "aaa222")
    add_run(registry, runs_dir, "bbb333", status="running", heartbeat_ago=3600, pid=dead_pid())

    result = invoke(runs_dir, "list", "--json")

    assert result.exit_code == 0, result.output
    runs = json.loads(result.stdout)
    assert [run["id"] for run in runs] == ["bbb333", "aaa222"]  # bbb333 started a moment later
    assert all(list(run) == list(RUN_COLUMNS) for run in runs)
    assert {run["id"]: run["status"] for run in runs} == {"bbb333": "lost", "aaa222": "stopped"}


def test_list_filters_by_effective_status_and_config(registry: Registry, runs_dir: Path) -> None:
    add_run(registry, runs_dir, "stop22", started_ago=30)
    add_run(registry, runs_dir, "fail33", status="failed", started_ago=20, config_name="other")
    add_run(registry, runs_dir, "lost44", status="running", heartbeat_ago=600, pid=dead_pid())
    add_run(registry, runs_dir, "runs55", status="running", started_ago=5)

    def ids(*args: str) -> list[str]:
        result = invoke(runs_dir, "list", "--json", *args)
        assert result.exit_code == 0, result.output
        return [run["id"] for run in json.loads(result.stdout)]

    assert ids("--status", "lost") == ["lost44"]
    assert ids("--status", "running") == ["runs55"]  # lost44 is recorded running, but lost
    assert ids("--status", "failed", "--status", "stopped") == ["fail33", "stop22"]
    assert ids("--config", "other") == ["fail33"]
    assert ids("--config", "other", "--status", "stopped") == []
    assert "no runs that match" in invoke(runs_dir, "list", "--status", "paused").stdout


def test_list_shows_active_runs_and_the_newest_others_and_says_how_many_are_not_shown(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "active", status="running", started_ago=10 * 86400)
    for number in range(25):
        add_run(registry, runs_dir, f"done{number:02d}", started_ago=1000 - number)

    result = invoke(runs_dir, "list")
    shown = [line.split()[0] for line in result.stdout.splitlines()[1:]]
    assert shown == [f"done{n:02d}" for n in range(24, 4, -1)] + ["active"]
    assert "5 older runs not shown" in result.stderr

    assert len(invoke(runs_dir, "list", "--all").stdout.splitlines()) == 27
    assert len(invoke(runs_dir, "list", "-n", "3").stdout.splitlines()) == 5
    assert len(json.loads(invoke(runs_dir, "list", "--json").stdout)) == 26  # --json: all


def test_list_without_a_registry_says_so_and_creates_nothing(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    result = invoke(missing, "list")
    assert result.exit_code == 0
    assert "no runs in" in result.stdout
    assert not missing.exists()
    assert invoke(missing, "list", "--json").stdout.strip() == "[]"


def test_python_m_townlet_list_json_in_a_real_process(registry: Registry, runs_dir: Path) -> None:
    add_run(registry, runs_dir, "real22", env_step=5)
    process = townlet_process("list", "--json", "--runs-dir", str(runs_dir))
    stdout, stderr = process.communicate(timeout=DEADLINE)
    assert process.returncode == 0, stderr
    assert [(run["id"], run["env_step"]) for run in json.loads(stdout)] == [("real22", 5)]


def test_list_does_not_import_torch_or_fastapi(registry: Registry, runs_dir: Path) -> None:
    add_run(registry, runs_dir, "quick2")
    code = (
        "import sys\n"
        "from townlet.commands import main\n"
        "sys.argv = ['townlet', 'list', '--runs-dir', sys.argv[1]]\n"
        "try:\n"
        "    main()\n"
        "finally:\n"
        "    print(sorted({'torch', 'fastapi', 'pydantic'} & set(sys.modules)), file=sys.stderr)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(runs_dir)], capture_output=True, text=True, check=True
    )
    assert done.stderr.strip() == "[]"


# ---------------------------------------------------------------- run ids


def test_a_unique_prefix_names_a_run_and_an_ambiguous_or_unknown_one_exits_2(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "abc234")
    add_run(registry, runs_dir, "abd567")
    add_run(registry, runs_dir, "xyz789")

    assert "xyz789" in invoke(runs_dir, "status", "xy").stdout
    assert "abc234" in invoke(runs_dir, "status", "abc").stdout

    ambiguous = invoke(runs_dir, "status", "ab")
    assert ambiguous.exit_code == 2
    assert "abc234" in ambiguous.stderr and "abd567" in ambiguous.stderr
    assert "xyz789" not in ambiguous.stderr

    unknown = invoke(runs_dir, "stop", "qqq")
    assert unknown.exit_code == 2
    assert "`townlet list` shows the ids" in unknown.stderr
    assert "Traceback" not in unknown.output


def test_a_damaged_registry_gives_the_clear_message_and_exit_code_2(runs_dir: Path) -> None:
    runs_dir.mkdir(parents=True)
    (runs_dir / REGISTRY_FILE).write_bytes(b"this is not an SQLite database\n" * 200)

    for args in (["list"], ["status", "abc"], ["rm", "abc", "--yes"]):
        result = invoke(runs_dir, *args)
        assert result.exit_code == 2, result.output
        assert "is damaged" in result.stderr and "move it aside" in result.stderr
        assert result.exception is None or isinstance(result.exception, SystemExit)

    process = townlet_process("list", "--runs-dir", str(runs_dir))
    _, stderr = process.communicate(timeout=DEADLINE)
    assert process.returncode == 2
    assert "is damaged" in stderr and "Traceback" not in stderr


# ---------------------------------------------------------------- status


def test_status_shows_every_field_how_it_ended_and_the_latest_ten_events(
    registry: Registry, runs_dir: Path
) -> None:
    run = add_run(
        registry, runs_dir, "stat22", events=12, episode=1234, env_step=2_500_000,
        best_greedy=88.25, end_reason="final checkpoint written", ended_at=time.time(),
        newest_checkpoint="/x/ckpt_ep000000010_step000000001000.pt",
    )  # fmt: skip

    result = invoke(runs_dir, "status", "stat")

    assert result.exit_code == 0, result.output
    text = result.stdout
    assert "stopped: final checkpoint written" in text
    assert run.run_dir in text and "/x/ckpt_ep000000010_step000000001000.pt" in text
    assert "1,234" in text and "2,500,000 (2.5M)" in text and "88.2" in text
    assert text.count("progress") == 10
    assert "episode=2 " in text and "episode=11 " in text and "episode=1 " not in text

    data = json.loads(invoke(runs_dir, "status", "stat22", "--json").stdout)
    assert data["run"]["id"] == "stat22" and data["run"]["status"] == "stopped"
    assert [event["episode"] for event in data["events"]] == list(range(2, 12))


def test_status_of_a_lost_run_says_what_happened_and_how_to_go_on(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "gone22", status="running", heartbeat_ago=300, pid=dead_pid())
    text = invoke(runs_dir, "status", "gone22").stdout
    assert "lost: no heartbeat for 5m" in text
    assert "townlet resume gone22" in text
    assert "no events yet" in text


# ---------------------------------------------------------------- logs, events


def test_logs_prints_run_log_and_events_prints_whole_lines_only(
    registry: Registry, runs_dir: Path
) -> None:
    run = add_run(registry, runs_dir, "logs22", log="line one\nline two\n", events=2)
    with (Path(run.run_dir) / "events.jsonl").open("a") as handle:
        handle.write('{"v": 1, "event": "prog')  # torn: a crash mid-write

    assert invoke(runs_dir, "logs", "logs22").stdout == "line one\nline two\n"
    events = invoke(runs_dir, "events", "logs22", "-f").stdout.splitlines()  # ended: no wait
    assert [json.loads(line)["episode"] for line in events] == [0, 1]

    (Path(run.run_dir) / "run.log").unlink()
    missing = invoke(runs_dir, "logs", "logs22")
    assert missing.exit_code == 1 and "has no run.log" in missing.stderr


def test_logs_follow_prints_new_lines_and_ends_when_the_run_finishes(
    registry: Registry, runs_dir: Path
) -> None:
    run = add_run(registry, runs_dir, "foll22", status="running", log="first\n")
    log = Path(run.run_dir) / "run.log"
    with (
        FakeRun(runs_dir, run.id) as fake,
        following("logs", "foll", "-f", "--runs-dir", str(runs_dir)) as (process, lines),
    ):
        assert lines.next() == "first\n"
        with log.open("a") as handle:
            handle.write("second\n")
        assert lines.next() == "second\n"
        fake.finish_now.set()  # the run writes its last line, then records its end
        assert lines.next() == "final checkpoint written\n"
        assert process.wait(timeout=DEADLINE) == 0


def test_following_ends_on_ctrl_c_with_exit_code_0_and_no_traceback(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "ctrl22", status="running", pid=os.getpid(), events=1)
    with following("events", "ctrl22", "-f", "--runs-dir", str(runs_dir)) as (process, lines):
        assert json.loads(lines.next())["event"] == "progress"
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=DEADLINE) == 0
        assert process.stderr is not None
        assert "Traceback" not in process.stderr.read()


# ---------------------------------------------------------------- stop


def test_stop_refuses_a_run_that_is_not_active(registry: Registry, runs_dir: Path) -> None:
    add_run(registry, runs_dir, "done22", end_reason="episode budget reached", status="completed")

    result = invoke(runs_dir, "stop", "done22")

    assert result.exit_code == 1
    assert "not active: completed: episode budget reached" in result.stderr
    record = registry.get("done22")
    assert record is not None and record.stop_requested == 0


def test_stop_asks_the_run_and_waits_until_it_has_stopped(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "live22", status="running")
    with FakeRun(runs_dir, "live22"):
        result = invoke(runs_dir, "stop", "live", "--timeout", str(DEADLINE))

    assert result.exit_code == 0, result.output
    assert "stopped: final checkpoint written" in result.stdout
    record = registry.get("live22")
    assert record is not None and record.status == "stopped" and record.stop_requested == 1


def test_stop_that_times_out_says_so_and_exits_1(registry: Registry, runs_dir: Path) -> None:
    add_run(registry, runs_dir, "slow22", status="running")
    with FakeRun(runs_dir, "slow22", obeys=False):
        result = invoke(runs_dir, "stop", "slow22", "--timeout", "0.3")

    assert result.exit_code == 1
    assert "has not stopped after 0.3 s" in result.stderr and "--force" in result.stderr
    record = registry.get("slow22")
    assert record is not None and record.status == "running" and record.stop_requested == 1


def test_stop_on_a_run_whose_process_is_gone_says_it_is_lost(
    registry: Registry, runs_dir: Path
) -> None:
    add_run(registry, runs_dir, "stale2", status="running", pid=dead_pid())  # fresh heartbeat

    result = invoke(runs_dir, "stop", "stale2", "--force", "--timeout", "0.2")

    assert result.exit_code == 1, result.output
    assert "is not active: lost" in result.output and "townlet resume stale2" in result.output


def test_stop_force_sends_sigterm_then_sigkill_to_a_run_that_ignores_both_requests(
    registry: Registry, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stubborn = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(120)\n"
    )
    # "townlet" in its command line: stop --force only signals what looks like a run.
    process = subprocess.Popen(
        [sys.executable, "-c", stubborn, "townlet"], stdout=subprocess.PIPE, text=True
    )
    reaper = threading.Thread(target=process.wait)  # so the killed child is no zombie
    reaper.start()
    try:
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
        add_run(registry, runs_dir, "stub22", status="running", pid=process.pid)
        monkeypatch.setattr(commands, "KILL_GRACE_SECONDS", 0.5)

        result = invoke(runs_dir, "stop", "stub22", "--force", "--timeout", "0.2")

        assert result.exit_code == 0, result.output
        assert f"sent SIGTERM to pid {process.pid}" in result.stdout
        assert "sent SIGKILL" in result.stdout and "shows as lost" in result.stdout
        reaper.join(DEADLINE)
        assert process.returncode == -signal.SIGKILL
        record = registry.get("stub22")
        assert record is not None and record.status == "lost"
    finally:
        if process.poll() is None:
            process.kill()
        reaper.join(DEADLINE)
        assert process.stdout is not None
        process.stdout.close()


def test_stop_force_leaves_alone_a_pid_that_is_now_another_program(
    registry: Registry, runs_dir: Path
) -> None:
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        add_run(registry, runs_dir, "reus22", status="running", pid=other.pid)

        result = invoke(runs_dir, "stop", "reus22", "--force", "--timeout", "0.1")

        assert result.exit_code == 1
        assert "is now another program" in result.stderr
        assert other.poll() is None
    finally:
        other.kill()
        other.wait(DEADLINE)


# ---------------------------------------------------------------- rm


def test_rm_refuses_an_active_run(registry: Registry, runs_dir: Path) -> None:
    run = add_run(registry, runs_dir, "busy22", status="running")
    result = invoke(runs_dir, "rm", "busy22", "--yes")
    assert result.exit_code == 1
    assert "is running: `townlet stop busy22` first" in result.stderr
    assert Path(run.run_dir).is_dir() and registry.get("busy22") is not None


def test_rm_yes_deletes_the_folder_and_the_row(registry: Registry, runs_dir: Path) -> None:
    run = add_run(registry, runs_dir, "gone22", log="x\n")
    kept = add_run(registry, runs_dir, "kept22", log="y\n")

    result = invoke(runs_dir, "rm", "gone", "--yes")

    assert result.exit_code == 0, result.output
    assert not Path(run.run_dir).exists() and registry.get("gone22") is None
    assert Path(kept.run_dir).is_dir() and registry.get("kept22") is not None


def test_rm_asks_first_and_does_nothing_when_told_no(registry: Registry, runs_dir: Path) -> None:
    run = add_run(registry, runs_dir, "asks22")
    result = invoke(runs_dir, "rm", "asks22", input="n\n")
    assert result.exit_code == 1
    assert "delete run asks22" in result.output
    assert Path(run.run_dir).is_dir() and registry.get("asks22") is not None


def test_rm_refuses_a_folder_outside_the_runs_dir(
    registry: Registry, runs_dir: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    add_run(registry, runs_dir, "away22", run_dir=str(outside))
    result = invoke(runs_dir, "rm", "away22", "--yes")
    assert result.exit_code == 1
    assert "not inside --runs-dir" in result.stderr
    assert outside.is_dir() and registry.get("away22") is not None


# ---------------------------------------------------------------- run, resume, compare


def test_run_hands_every_argument_to_run_demo(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[list[str]] = []

    def launch(argv: list[str]) -> None:
        seen.append(argv)
        raise SystemExit(3)

    monkeypatch.setattr(commands, "_launch", launch)
    result = CliRunner().invoke(commands.cli, ["run", "--config", "x.yaml", "--new", "--help"])
    assert result.exit_code == 3
    assert seen == [["--config", "x.yaml", "--new", "--help"]]


def test_run_in_a_real_process_keeps_run_demos_exit_code(tmp_path: Path) -> None:
    process = townlet_process(
        "run", "--config", str(tmp_path / "missing.yaml"), "--runs-dir", str(tmp_path)
    )
    _, stderr = process.communicate(timeout=120)  # imports torch
    assert process.returncode == 2, stderr
    assert "file not found" in stderr


def test_resume_refuses_an_active_run_and_continues_one_that_is_not(
    registry: Registry, runs_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_run(registry, runs_dir, "busy22", status="paused")
    add_run(registry, runs_dir, "lost22", status="running", heartbeat_ago=60, pid=dead_pid())
    seen: list[list[str]] = []
    monkeypatch.setattr(commands, "_launch", lambda argv: seen.append(argv) or sys.exit(0))

    refused = invoke(runs_dir, "resume", "busy")
    assert refused.exit_code == 1 and "is paused" in refused.stderr and not seen

    result = invoke(runs_dir, "resume", "lost", "--no-browser")
    assert result.exit_code == 0, result.output
    expected = ["--config", str(LEVEL_1), "--runs-dir", str(runs_dir), "--resume-run", "lost22"]
    assert seen == [[*expected, "--no-browser"]]


def test_compare_shows_the_runs_side_by_side_and_only_the_config_values_that_differ(
    registry: Registry, runs_dir: Path
) -> None:
    first = add_run(registry, runs_dir, "cmp111", episode=10, seed=1)
    second = add_run(registry, runs_dir, "cmp222", episode=20, seed=2)
    config = yaml.safe_load(LEVEL_1.read_text())
    (Path(first.run_dir) / "config.yaml").write_text(yaml.safe_dump(config))
    config["training"]["batch_size"] = 64
    config["world"]["step_cap"] = 321
    (Path(second.run_dir) / "config.yaml").write_text(yaml.safe_dump(config))

    result = invoke(runs_dir, "compare", "cmp1", "cmp2")

    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: line.split()[1:] for line in result.stdout.splitlines() if line}
    assert rows["run"] == ["cmp111", "cmp222"] and rows["episodes"] == ["10", "20"]
    assert rows["training.batch_size"][1] == "64" and rows["world.step_cap"][1] == "321"
    differing = result.stdout.split("config values that differ:")[1].split()
    assert differing[::3] == ["training.batch_size", "world.step_cap"]

    data = json.loads(invoke(runs_dir, "compare", "cmp111", "cmp222", "--json").stdout)
    assert data["config_differences"]["world.step_cap"][1] == 321


def test_commands_use_the_same_default_runs_folder_as_run_demo() -> None:
    from townlet.cli import build_parser

    run_demo_default = build_parser().get_default("runs_dir")
    runs_dir_option = next(p for p in commands.list_runs.params if p.name == "runs_dir")
    assert runs_dir_option.default == run_demo_default == PROJECT_ROOT / "runs"

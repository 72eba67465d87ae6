"""The run registry: safe with several processes at once, honest about runs that died, and
never the reason a run cannot start."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.support.runs import record
from townlet.registry import Registry, RegistryError, effective_status
from townlet.registry.records import STALE_SECONDS
from townlet.registry.store import REGISTRY_FILE

WRITER = """
import sys
from pathlib import Path
from townlet.registry import Registry
registry = Registry(Path(sys.argv[1]))
run_id = sys.argv[2]
for step in range(1, int(sys.argv[3]) + 1):
    registry.heartbeat(run_id, env_step=step)
print("done", flush=True)
"""


def test_three_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    runs = [registry.register(record(tmp_path / str(i))) for i in range(3)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), run.id, "1000"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        for run in runs
    ]
    # A reader in this process all the while: it must never fail either.
    while any(writer.poll() is None for writer in writers):
        assert len(registry.runs()) == 3
    for writer in writers:
        out, err = writer.communicate()
        assert writer.returncode == 0 and out.strip() == "done", err
        assert "locked" not in err
    assert [registry.get(run.id).env_step for run in runs] == [1000, 1000, 1000]  # type: ignore[union-attr]
    assert registry.path.name == REGISTRY_FILE
    mode = registry._connection.execute("PRAGMA journal_mode").fetchone()[0]
    assert mode == "wal"


def test_a_run_whose_process_died_silently_is_lost(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    run = registry.register(record(tmp_path, pid=child.pid))
    assert effective_status(run) == "running"
    child.kill()
    child.wait()
    # On this machine the pid tells at once, however fresh the last heartbeat.
    assert effective_status(run) == "lost"
    # A live process that is slow to beat (a long final save) is not lost.
    stale = time.time() + STALE_SECONDS + 1
    alive = registry.register(record(tmp_path))
    assert effective_status(alive, now=stale) == "running"
    # A run on another machine is judged by its heartbeat alone.
    remote = registry.register(record(tmp_path, host="gpu-box", pid=1))
    assert effective_status(remote) == "running"
    assert effective_status(remote, now=stale) == "lost"
    # Ended runs keep their status whatever their process does.
    registry.finish(run.id, "stopped", "Ctrl+C")
    assert effective_status(registry.get(run.id), now=stale) == "stopped"  # type: ignore[arg-type]


def test_a_damaged_registry_gives_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / REGISTRY_FILE).write_bytes(b"this is not a database" * 100)
    with pytest.raises(RegistryError) as refused:
        Registry(tmp_path)
    message = str(refused.value)
    assert "is damaged" in message and "move it aside" in message


@contextmanager
def read_only(path: Path) -> Iterator[None]:
    """``path`` read-only even for root: bind-mounted onto itself, then remounted read-only."""
    if os.geteuid() != 0:
        path.chmod(0o444)
        try:
            yield
        finally:
            path.chmod(0o644)
        return
    for command in (
        ["mount", "--bind", str(path), str(path)],
        ["mount", "-o", "remount,ro,bind", str(path)],
    ):
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)
            pytest.skip(f"cannot make {path} read-only: {done.stderr.strip()}")
    try:
        yield
    finally:
        subprocess.run(["umount", "-l", str(path)], capture_output=True, check=False)


def test_a_read_only_registry_gives_a_clear_error(tmp_path: Path) -> None:
    Registry(tmp_path).close()
    with read_only(tmp_path / REGISTRY_FILE), pytest.raises(RegistryError) as refused:
        registry = Registry(tmp_path)
        registry.register(record(tmp_path))
    assert "cannot be written" in str(refused.value), refused.value


def test_a_newer_schema_is_refused_and_an_older_one_upgraded(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    registry._connection.execute("PRAGMA user_version = 99")
    registry.close()
    with pytest.raises(RegistryError, match="newer Townlet"):
        Registry(tmp_path)


def test_ids_resolve_by_prefix(tmp_path: Path) -> None:
    registry = Registry(tmp_path)
    first = registry.register(record(tmp_path, id="abc234"))
    registry.register(record(tmp_path, id="abd567"))
    assert [run.id for run in registry.find("abc")] == [first.id]
    assert len(registry.find("ab")) == 2
    assert registry.find("%") == [] and registry.find("_") == []

"""Registry rows for tests: a run record with sensible values, any of them overridden."""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

from townlet.registry import RunRecord, new_run_id


def record(run_dir: Path, **fields: object) -> RunRecord:
    values: dict[str, object] = {
        "id": new_run_id(),
        "name": "tiny",
        "config_path": "configs/tiny.yaml",
        "config_name": "tiny",
        "config_digest": "d" * 64,
        "seed": 7,
        "status": "running",
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "device": "cpu",
        "run_dir": str(run_dir),
        "started_at": time.time(),
        "heartbeat_at": time.time(),
    }
    return RunRecord(**{**values, **fields})  # type: ignore[arg-type]

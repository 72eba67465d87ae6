"""Ending a child's whole process group, the one way every managed child is stopped."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import time


def group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
        return True
    except ProcessLookupError:
        return False
    except PermissionError:
        return True


def end_group(
    process: subprocess.Popen[str], timeout: float, name: str, log: logging.Logger
) -> None:
    """SIGTERM the whole group, SIGKILL whatever of it lingers, and reap the leader.

    ``process`` must lead its group (started with ``start_new_session``); ``name`` says
    which child did not stop in time, if one does not.
    """
    group = process.pid
    if group_alive(group):
        os.killpg(group, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None and not group_alive(group):
                break
            time.sleep(0.05)
        if group_alive(group):
            log.warning("%s did not stop within %.0f s; killing its process group", name, timeout)
            os.killpg(group, signal.SIGKILL)
    process.wait()
    if process.stdin is not None:
        process.stdin.close()

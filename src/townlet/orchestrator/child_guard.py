"""Run a command so that its whole process group cannot outlive the process that started it.

``python child_guard.py -- CMD ARGS...`` is started by the orchestrator as the leader of a new
process group, with its stdin a pipe whose only writer is the orchestrator. The command runs in
the same group. When the orchestrator dies, however it dies (Ctrl+C, kill -9, an OOM kill, a
closed terminal), the kernel closes that pipe; the guard reads end-of-file and ends the group:
SIGTERM first, SIGKILL for whatever lingers. Works on Linux and macOS alike (no prctl), and is
run as a plain script, stdlib only, so it starts in tens of milliseconds without importing torch.

An orderly stop is the orchestrator's job: it sends SIGTERM to the group, which reaches the
command and the guard together; the guard then just waits for the command and exits with its
code. When the command exits on its own, the guard ends its helpers (esbuild and the like) and
exits with the command's code.
"""

from __future__ import annotations

import contextlib
import os
import select
import signal
import subprocess
import sys
import time

GRACE_SECONDS = 3.0


def _end_group(child: subprocess.Popen[bytes]) -> None:
    """SIGTERM the group (the guard ignores it), SIGKILL it if the command lingers."""
    group = os.getpgrp()
    try:
        os.killpg(group, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + GRACE_SECONDS
    while child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    # Helpers the command started may still hold ports or files: no survivors, guard included.
    os.killpg(group, signal.SIGKILL)


def main(argv: list[str]) -> int:
    if not argv or argv[0] != "--" or len(argv) < 2:
        print("usage: child_guard.py -- COMMAND [ARGS...]", file=sys.stderr)
        return 2
    stopping = False

    def on_term(_signum: int, _frame: object) -> None:
        nonlocal stopping  # the orchestrator's SIGTERM reached the whole group: just wait
        stopping = True

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C belongs to the orchestrator
    child = subprocess.Popen(argv[1:], stdin=subprocess.DEVNULL)
    watching = True
    while child.poll() is None:
        if not watching:
            time.sleep(0.1)
            continue
        readable, _, _ = select.select([sys.stdin.fileno()], [], [], 0.5)
        if readable and not os.read(sys.stdin.fileno(), 4096):
            if stopping:  # an orderly stop is under way; the pipe closing is part of it
                watching = False
                continue
            _end_group(child)  # the orchestrator is gone: take everything with us
            return 1
    code = child.returncode
    if not stopping:
        # The command ended on its own; its helpers must not outlive it either.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(os.getpgrp(), signal.SIGTERM)
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

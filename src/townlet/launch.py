"""The process entry point: Ctrl+C before start-up, and a quick exit after shutdown.

Importing torch takes seconds; a Ctrl+C (or SIGTERM) in that time must not print a
KeyboardInterrupt traceback. Until the orchestrator takes the signals over, both raise
KeyboardInterrupt, which ends here in one line and a clean exit; the CLI removes a run folder
it had just created. After the orchestrator's ordered shutdown, everything worth keeping is
written and flushed, so the process ends at once instead of spending seconds tearing down
torch's modules (and a training thread abandoned by a second Ctrl+C cannot hold it open).
This module imports only the standard library at the top, so it is in place within
milliseconds of the interpreter starting.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import time
from types import FrameType
from typing import NoReturn

_interrupted = False


def _interrupt(_signum: int, _frame: FrameType | None) -> None:
    global _interrupted
    _interrupted = True
    raise KeyboardInterrupt


def _quiet_about_interrupts(unraisable: sys.UnraisableHookArgs) -> None:
    """A Ctrl+C that lands inside a callback Python cannot raise from (an import's module-lock
    cleanup, a weakref's callback) is reported as "Exception ignored" with a traceback. It is
    recorded above and acted on (``interrupted_while_starting``): say nothing of it."""
    if unraisable.exc_type is KeyboardInterrupt:
        return
    sys.__unraisablehook__(unraisable)


def interrupted_while_starting() -> bool:
    """A Ctrl+C or SIGTERM came before the orchestrator took the signals over, even if some
    library's import swallowed the KeyboardInterrupt it raised (the run must still stop)."""
    return _interrupted


def launch(argv: list[str] | None = None) -> NoReturn:
    signal.signal(signal.SIGTERM, _interrupt)
    signal.signal(signal.SIGINT, _interrupt)
    sys.unraisablehook = _quiet_about_interrupts
    try:
        from townlet.cli import main

        if _interrupted:  # raised inside an import that caught it: stop all the same
            raise KeyboardInterrupt

        code = main(argv)
        # Shutdown is done; a late Ctrl+C must not turn into a traceback on the way out.
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
    except KeyboardInterrupt:
        now = time.time()
        stamp = time.strftime("%H:%M:%S", time.localtime(now)) + f".{int(now % 1 * 1000):03d}"
        print(f"{stamp} [Townlet] stopped before start", file=sys.stderr)
        code = 0
    for stream in (sys.stdout, sys.stderr):
        # A closed terminal must not turn a clean stop into a crash.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(code)

"""The sweep's process entry: logging, Ctrl+C before the driver owns signals, the exit code."""

from __future__ import annotations

import sys
import time
from typing import NoReturn

from townlet.sweep.runner import SweepOptions


def launch_sweep(options: SweepOptions) -> NoReturn:
    from townlet.orchestrator.console_log import configure_console_logging

    configure_console_logging()
    try:
        from townlet.sweep.runner import run_sweep

        code = run_sweep(options)
    except KeyboardInterrupt:
        # Before Ray started (or while it stopped again): nothing ran, nothing to save.
        stamp = time.strftime("%H:%M:%S")
        print(f"{stamp} [Townlet] stopped before start", file=sys.stderr)
        code = 0
    sys.stdout.flush()
    sys.exit(code)

"""Progress bars for work of known size (an episode budget, ``npm ci``), kept off the logs' way.

Bars draw on stderr only when it is a terminal; in a log file or CI they are off and the
log lines stand alone. While a bar is up, our log lines go through ``tqdm.write`` so a bar
never tears a line in half.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from tqdm import tqdm
from tqdm.contrib.logging import logging_redirect_tqdm

# The loggers that own the console (see console_log.py).
CONSOLE_LOGGERS = ("townlet", "uvicorn")


def bars_enabled() -> bool:
    return sys.stderr.isatty()


@contextmanager
def progress_bar(total: int, initial: int, unit: str, description: str) -> Iterator[tqdm]:
    """A bar from ``initial`` to ``total``; log lines print above it while it is shown."""
    bar = tqdm(
        total=total,
        initial=min(initial, total),
        unit=unit,
        desc=description,
        disable=not bars_enabled(),
        dynamic_ncols=True,
        leave=False,
        file=sys.stderr,
    )
    try:
        with logging_redirect_tqdm(loggers=[logging.getLogger(n) for n in CONSOLE_LOGGERS]):
            yield bar
    finally:
        bar.close()


def advance_to(bar: tqdm, done: int) -> None:
    """Move the bar to an absolute count (the work is counted elsewhere)."""
    done = min(done, bar.total) if bar.total is not None else done
    if done != bar.n:
        bar.update(done - bar.n)

"""Progress bars for the benchmarks: on stderr, only on a terminal, never through a result line.

Results go to stdout unchanged, so a redirected or piped run (or CI, where stderr is not a
terminal) prints exactly what it printed before the bars existed.
"""

from __future__ import annotations

import sys

from tqdm import tqdm

# Elapsed and remaining time only: the bars below count seconds as floats or whole cells,
# and "12.000473/90" would read worse than a percentage.
_BAR_FORMAT = "{l_bar}{bar}| {elapsed}<{remaining}"


def progress_bar(total: float, description: str) -> tqdm:
    """A bar over `total` units of known work; drawn on stderr when it is a terminal."""
    return tqdm(
        total=total,
        desc=description,
        file=sys.stderr,
        disable=not sys.stderr.isatty(),
        leave=False,  # gone when done: the terminal keeps only the results
        dynamic_ncols=True,
        bar_format=_BAR_FORMAT,
    )


def say(line: str) -> None:
    """Print a result line to stdout, lifting any bar out of its way first."""
    with tqdm.external_write_mode(file=sys.stdout):
        print(line, flush=True)

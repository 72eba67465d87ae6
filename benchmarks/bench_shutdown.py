"""How fast Ctrl+C ends a real run_demo.py (tiny level 1 config, real Vite unless --no-frontend).

Prints, per round: seconds from SIGINT to the process being gone, and from the last shutdown
line ("frontend stopped", or "live server stopped" without a page) to the process being gone:
the part that is interpreter teardown. Target: the latter under 1 s.

.venv/bin/python benchmarks/bench_shutdown.py [--rounds 5] [--no-frontend]
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from benchmarks.progress import progress_bar, say
from tests.support.demo_process import DemoProcess, free_port, write_tiny_config

_STAMP = re.compile(r"^(\d\d:\d\d:\d\d\.\d{3}) ")


def _wall_clock(line: str) -> float:
    """The log line's own time stamp, as seconds since midnight (the process's clock)."""
    stamp = datetime.strptime(_STAMP.match(line)[1], "%H:%M:%S.%f")  # type: ignore[index]
    return stamp.hour * 3600 + stamp.minute * 60 + stamp.second + stamp.microsecond / 1e6


def _seconds_since_midnight() -> float:
    now = datetime.now()
    return now.hour * 3600 + now.minute * 60 + now.second + now.microsecond / 1e6


def one_round(workdir: Path, with_frontend: bool) -> tuple[float, float]:
    config = write_tiny_config(workdir)
    args = ["--config", str(config), "--no-browser", "--runs-dir", str(workdir / "runs")]
    args += ["--port", str(free_port())]
    args += ["--frontend-port", str(free_port())] if with_frontend else ["--no-frontend"]
    demo = DemoProcess(args)
    try:
        demo.wait_for_line(r"ready in", timeout=120)
        time.sleep(2.0)  # let training run a little, as a user would
        sent = time.monotonic()
        demo.interrupt()
        demo.process.wait(timeout=60)
        gone = time.monotonic()
        gone_wall = _seconds_since_midnight()
        demo.drain()
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()
    last = "frontend stopped" if with_frontend else "live server stopped"
    line = next(line for line in demo.lines if last in line)
    return gone - sent, gone_wall - _wall_clock(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--no-frontend", action="store_true")
    args = parser.parse_args()
    totals: list[float] = []
    teardowns: list[float] = []
    with progress_bar(args.rounds, "rounds") as bar:
        for _ in range(args.rounds):
            with tempfile.TemporaryDirectory() as workdir:
                total, teardown = one_round(Path(workdir), not args.no_frontend)
            totals.append(total)
            teardowns.append(teardown)
            bar.update(1)
    say(f"rounds: {args.rounds} ({'no page' if args.no_frontend else 'with Vite'})")
    say(
        f"Ctrl+C to process gone: mean {sum(totals) / len(totals):.2f} s, "
        f"range {min(totals):.2f}-{max(totals):.2f} s"
    )
    say(
        f"last component down to process gone: mean {sum(teardowns) / len(teardowns):.2f} s, "
        f"range {min(teardowns):.2f}-{max(teardowns):.2f} s (target < 1 s)"
    )


if __name__ == "__main__":
    main()

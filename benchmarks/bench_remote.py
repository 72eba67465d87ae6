"""Trainer on one address, page on another: how fast the page's trainer indicator follows the
trainer, and how many bytes per second the page pulls from it.

Part 1: a real trainer (``run_demo.py --host 127.0.0.2 --token ... --no-frontend``, the tiny
level 1 config) and a real page side (``run_demo.py --trainer-url ...``, Vite) on 127.0.0.1,
watched in headless Chromium. ``--rounds`` times: kill -9 the trainer and time until the
indicator turns red; start it again and time from its "ready" line until the indicator turns
green. The worst of the rounds is the figure (the page polls once a second; the target is 3 s).

Part 2: bytes per second from the trainer's live server to one page (the shipped level 1
config): every WebSocket message a page gets (payload plus frame header) at the default pace
and at 60 steps/s, plus the page's once-a-second trainer check (one /health answer), for
``--seconds`` each.

    python benchmarks/bench_remote.py [--rounds 10] [--seconds 20]
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_busy, machine_lines  # noqa: E402
from benchmarks.progress import progress_bar  # noqa: E402
from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS  # noqa: E402
from tests.support.demo_process import DemoProcess, free_port, write_tiny_config  # noqa: E402

TOKEN = "benchmark-remote-token-0123456789"
HOST = "127.0.0.2"


def trainer(config: Path, runs: Path, port: int, page_port: int) -> DemoProcess:
    args = ["--config", str(config), "--runs-dir", str(runs), "--no-browser", "--no-frontend"]
    args += ["--host", HOST, "--port", str(port), "--frontend-port", str(page_port)]
    process = DemoProcess([*args, "--token", TOKEN])
    process.wait_for_line(r"ready in", timeout=120)
    return process


def indicator(page: object, state: str, timeout: float) -> None:
    page.wait_for_function(  # type: ignore[attr-defined]
        "s => document.querySelector('[data-testid=trainer-indicator]')?.dataset.state === s",
        arg=state,
        timeout=timeout * 1000,
    )


def part_one(rounds: int, workdir: Path) -> tuple[list[float], list[float]]:
    from playwright.sync_api import sync_playwright

    config, runs = write_tiny_config(workdir), workdir / "runs"
    port, page_port = free_port(), free_port()
    url = f"http://{HOST}:{port}"
    training = trainer(config, runs, port, page_port)
    page_side = DemoProcess(
        ["--trainer-url", url, "--token", TOKEN, "--frontend-port", str(page_port), "--no-browser"]
    )
    to_red: list[float] = []
    to_green: list[float] = []
    try:
        page_side.wait_for_line(r"ready: open", timeout=120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{page_port}/")
            indicator(page, "ok", 30)
            with progress_bar(rounds, "kill and restart") as bar:
                for _ in range(rounds):
                    os.kill(training.process.pid, signal.SIGKILL)
                    killed = time.monotonic()
                    indicator(page, "error", 30)
                    to_red.append(time.monotonic() - killed)
                    training.process.wait(10)
                    training.kill_everything()
                    training = trainer(config, runs, port, page_port)
                    ready = time.monotonic()
                    indicator(page, "ok", 30)
                    to_green.append(time.monotonic() - ready)
                    bar.update(1)
            browser.close()
    finally:
        for process in (page_side, training):
            if process.process.poll() is None:
                process.interrupt()
                process.process.wait(30)
            process.kill_everything()
    return to_red, to_green


def stream_rate(url: str, seconds: float) -> tuple[float, float]:
    """(bytes/s, messages/s) of everything one page's WebSocket receives."""
    from websockets.sync.client import connect

    received = messages = 0
    with connect(
        f"{url.replace('http', 'ws')}/ws", additional_headers={"Authorization": f"Bearer {TOKEN}"}
    ) as ws:
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                message = ws.recv(timeout=left)
            except TimeoutError:
                break
            size = len(message.encode() if isinstance(message, str) else message)
            received += size + (2 if size < 126 else 4 if size < 65536 else 10)
            messages += 1
    return received / seconds, messages / seconds


def health_bytes(url: str) -> int:
    request = urllib.request.Request(f"{url}/health", headers={"Authorization": f"Bearer {TOKEN}"})
    with urllib.request.urlopen(request, timeout=5) as response:
        body = response.read()
        head = sum(len(k) + len(v) + 4 for k, v in response.getheaders()) + 17
    return len(body) + head


def part_two(seconds: float, workdir: Path) -> list[tuple[str, float, float]]:
    # The shipped level 1 config: its pace is the default a user sees.
    config, runs = ROOT / "configs" / "level_1_full_observability.yaml", workdir / "runs2"
    port = free_port()
    url = f"http://{HOST}:{port}"
    training = trainer(config, runs, port, free_port())
    rows = []
    try:
        default_pace = json.loads(
            urllib.request.urlopen(
                urllib.request.Request(
                    f"{url}/api/status", headers={"Authorization": f"Bearer {TOKEN}"}
                ),
                timeout=5,
            ).read()
        )["steps_per_second"]
        for pace in (float(default_pace), 60.0):
            request = urllib.request.Request(
                f"{url}/api/play/speed",
                data=json.dumps({"steps_per_second": pace}).encode(),
                method="POST",
                headers={"Authorization": f"Bearer {TOKEN}"},
            )
            urllib.request.urlopen(request, timeout=5).close()
            rate, per_second = stream_rate(url, seconds)
            rows.append((f"{pace:g} steps/s", rate + health_bytes(url), per_second))
    finally:
        training.interrupt()
        training.process.wait(30)
        training.kill_everything()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/remote.md")
    args = parser.parse_args()
    header = machine_lines()
    print("\n".join(header), flush=True)
    with tempfile.TemporaryDirectory() as scratch:
        to_red, to_green = part_one(args.rounds, Path(scratch))
        rows = part_two(args.seconds, Path(scratch))
    header.append(describe_busy("after the run"))
    lines = [
        "| measure | worst | mean | best |",
        "|---|---:|---:|---:|",
        f"| trainer killed (kill -9) -> indicator red | {max(to_red):.2f} s | "
        f"{sum(to_red) / len(to_red):.2f} s | {min(to_red):.2f} s |",
        f"| trainer ready again -> indicator green | {max(to_green):.2f} s | "
        f"{sum(to_green) / len(to_green):.2f} s | {min(to_green):.2f} s |",
        "",
        "| live play pace | trainer -> page | messages/s |",
        "|---|---:|---:|",
        *(f"| {name} | {rate / 1000:.1f} kB/s | {count:.1f} |" for name, rate, count in rows),
    ]
    print("\n" + "\n".join(lines))
    markdown = "\n".join(
        [
            "# Trainer and page on two addresses",
            "",
            __doc__.split("\n\n")[1].replace("\n", " "),
            "",
            __doc__.split("\n\n")[2].replace("\n", " "),
            "",
            f"Made by `benchmarks/bench_remote.py` ({args.rounds} rounds, "
            f"{args.seconds:g} s per pace).",
            "",
            *header,
            "",
            *lines,
            "",
        ]
    )
    args.output.write_text(markdown)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()

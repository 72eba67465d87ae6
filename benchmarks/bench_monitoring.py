"""What monitoring costs training, and how fast ``GET /metrics`` answers.

Part 1: a real DQNTrainer (the level's YAML, one torch thread) trains in a thread, writing its
metrics.jsonl, while the live server runs as run_demo.py runs it (a process of its own) with
monitoring on (system samples every 2 s into history.sqlite, alert rules evaluated every
``alerts.evaluate_every_seconds``, and a scraper process fetching /metrics every second, as
Prometheus would) or off (no monitor at all). Training env steps/s are timed in alternating
windows, mirrored every other round so drift hits both alike; the ratio on/off is the cost
(target >= 0.98).

Part 2: ``GET /metrics`` answer time over one keep-alive connection, as a scraper sees it
(target: under 20 ms), while training runs.

    python benchmarks/bench_monitoring.py [--seconds 4] [--rounds 6] [--requests 300]
"""

from __future__ import annotations

import argparse
import http.client
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_busy, machine_lines, reexec_with_malloc_settings  # noqa: E402

LEVEL = "level_1_full_observability"
SCRAPE_EVERY_SECONDS = 1.0

# A scraper in a process of its own, as Prometheus is: GET /metrics every second.
SCRAPER = """
import sys, time, urllib.request
port, seconds, every = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3])
deadline = time.monotonic() + seconds
while time.monotonic() < deadline:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        response.read()
    time.sleep(every)
"""


class Training:
    """The trainer's own loop in a thread (metrics.jsonl, progress, checkpoints every 30 s),
    as the orchestrator's training worker runs it."""

    def __init__(self, trainer: object) -> None:
        self.trainer = trainer
        self.stop = threading.Event()
        self.thread = threading.Thread(target=trainer.run, args=(self.stop,), name="training")  # type: ignore[attr-defined]

    def rate_over(self, seconds: float) -> float:
        steps0, start = self.trainer.env_step, time.perf_counter()  # type: ignore[attr-defined]
        time.sleep(seconds)
        steps = self.trainer.env_step - steps0  # type: ignore[attr-defined]
        return steps / (time.perf_counter() - start)


def start_server(trainer: object, config: object, run_dir: Path, monitoring: bool) -> object:
    """The live server in a process of its own, exactly as run_demo.py starts it."""
    from townlet.live.process_link import LiveServerSetup
    from townlet.live.server_thread import bind_socket
    from townlet.orchestrator.live_server_process import LiveServerProcess

    setup = LiveServerSetup(
        config=config,  # type: ignore[arg-type]
        checkpoint_dir=trainer.checkpoint_dir,  # type: ignore[attr-defined]
        obs_dim=trainer.world.obs_dim,  # type: ignore[attr-defined]
        page_origins=(),
        run_dir=run_dir,
        runs_dir=None,
        run_id="bench",
        run_name="bench",
        progress=trainer.progress(),  # type: ignore[attr-defined]
        training_controllable=False,
        monitoring=monitoring,
    )
    server = LiveServerProcess(
        setup,
        bind_socket("127.0.0.1", 0),
        trainer.progress,  # type: ignore[attr-defined]
        None,
        trainer.catalog,  # type: ignore[attr-defined]
    )
    server.start()
    return server


def metrics_times(port: int, requests: int) -> list[float]:
    """Seconds per GET /metrics over one keep-alive connection (a scraper's view)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    times = []
    for _ in range(requests):
        started = time.perf_counter()
        connection.request("GET", "/metrics")
        response = connection.getresponse()
        response.read()
        times.append(time.perf_counter() - started)
        if response.status != 200:
            raise RuntimeError(f"/metrics answered {response.status}")
        time.sleep(0.01)
    connection.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each window")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of on and off")
    parser.add_argument("--requests", type=int, default=300, help="GET /metrics to time")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/monitoring.md")
    parser.add_argument("--note", default="", help="a line for the results file (which code)")
    args = parser.parse_args()

    reexec_with_malloc_settings()
    import torch

    from townlet.config import load_config
    from townlet.learner.trainer import DQNTrainer
    from townlet.run_records import metrics_log

    torch.set_num_threads(1)
    header = machine_lines()
    print("\n".join(header), flush=True)
    config = load_config(ROOT / "configs" / f"{LEVEL}.yaml")
    scratch = tempfile.TemporaryDirectory()
    run_dir = Path(scratch.name)
    trainer = DQNTrainer(
        config, torch.device("cpu"), run_dir / "checkpoints", metrics=metrics_log(run_dir)
    )
    while not trainer.ready_to_learn():
        trainer.train_step()
    for _ in range(20):  # warm-up: the first updates allocate optimiser state
        trainer.train_step()
    trainer.save()  # the checkpoint the live server plays
    training = Training(trainer)
    training.thread.start()

    windows: dict[str, list[float]] = {"off": [], "on": []}

    def measure(monitoring: bool) -> None:
        name = "on" if monitoring else "off"
        server = start_server(trainer, config, run_dir, monitoring)
        scraper = None
        if monitoring:  # started before the window: its interpreter's start-up is not timed
            scraper = subprocess.Popen(
                [
                    sys.executable,
                    "-c",
                    SCRAPER,
                    str(server.port),  # type: ignore[attr-defined]
                    str(args.seconds + 2),
                    str(SCRAPE_EVERY_SECONDS),
                ]
            )
        time.sleep(1.0)  # the player loads its checkpoint; the monitor takes its first sample
        windows[name].append(training.rate_over(args.seconds))
        if scraper is not None:
            scraper.wait(30)
        server.stop()  # type: ignore[attr-defined]

    for round_ in range(args.rounds):
        order = (False, True) if round_ % 2 == 0 else (True, False)
        for monitoring in order:
            measure(monitoring)
        print(
            f"round {round_ + 1}: off {windows['off'][-1]:,.0f}, on {windows['on'][-1]:,.0f} "
            f"env steps/s (ratio {windows['on'][-1] / windows['off'][-1]:.3f})",
            flush=True,
        )

    # Part 2: /metrics answer time while training runs.
    server = start_server(trainer, config, run_dir, monitoring=True)
    time.sleep(2.5)  # a system sample and an alert evaluation are in
    times = metrics_times(server.port, args.requests)  # type: ignore[attr-defined]
    server.stop()  # type: ignore[attr-defined]

    training.stop.set()
    training.thread.join()
    scratch.cleanup()
    header.append(describe_busy("after the run"))

    mean = {name: sum(values) / len(values) for name, values in windows.items()}
    per_round = [on / off for on, off in zip(windows["on"], windows["off"], strict=True)]
    ms = sorted(t * 1000 for t in times)
    p99 = ms[min(len(ms) - 1, round(0.99 * (len(ms) - 1)))]
    ratio = mean["on"] / mean["off"]
    lines = [
        "| measure | value |",
        "|---|---:|",
        f"| training, live server with monitoring off | {mean['off']:,.0f} env steps/s |",
        f"| training, live server with monitoring on, /metrics scraped every "
        f"{SCRAPE_EVERY_SECONDS:g} s | {mean['on']:,.0f} env steps/s |",
        f"| **ratio on / off** (target >= 0.98) | **{ratio:.3f}** |",
        f"| ratio on / off, per round (min, max) | {min(per_round):.3f}, {max(per_round):.3f} |",
        f"| GET /metrics answer time, median (target < 20 ms) | {statistics.median(ms):.2f} ms |",
        f"| GET /metrics answer time, p99 / max | {p99:.2f} / {ms[-1]:.2f} ms |",
    ]
    print("\n" + "\n".join(lines))
    markdown = "\n".join(
        [
            "# Monitoring",
            "",
            f"{LEVEL} trains in a thread (one torch thread) while the live server runs in its",
            "own process, as run_demo.py runs it, with monitoring on (system samples every 2 s",
            "into history.sqlite, the default alert rules every "
            f"{config.alerts.evaluate_every_seconds:g} s, /metrics scraped",
            "every second by another process) or off. Env steps/s are the mean of "
            f"{args.rounds} rounds of {args.seconds:g} s windows (mirrored order every other",
            f"round). /metrics times are {args.requests} requests over one keep-alive",
            "connection while training runs. Made by `benchmarks/bench_monitoring.py`.",
            *([f"\n{args.note}"] if args.note else []),
            "",
            *header,
            "",
            *lines,
            "",
        ]
    )
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(markdown)
    print(f"\nwrote {args.output}")


if __name__ == "__main__":
    main()

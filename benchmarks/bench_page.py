"""What watching costs training, and how fast the page redraws its charts.

Part 1: a real DQNTrainer (level 1, one torch thread, a checkpoint every 5 s) trains in a
thread of this process; the live server runs in a process of its own, as run_demo.py runs
them (--in-process: in a thread beside training, the layout before). Training env steps/s
are timed in alternating windows, in one run:
- "none": live play paused, no page, no viewer, no evaluator;
- "all": live play at 60 steps/s, the page open in Chromium through a real Vite (charts
  redrawing every second), 10 more viewers (WebSocket clients in a child process, reading
  every message) and the evaluator process evaluating each new checkpoint.
Each component is started before its window and given a few seconds to settle (their start-up
is not what a user pays while watching).

Part 2: a live server whose run folder holds 20,000 training points (all sent to the page,
not downsampled) while new points arrive every second; Chromium records how long each chart
redraw takes (the page's ``townlet:chart-redraw`` User Timing entries): per chart and per
update (every chart redrawn for one message).

    python benchmarks/bench_page.py [--seconds 6] [--rounds 4] [--points 20000]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.bench_viewers import Training, ViewerProcess, start_server  # noqa: E402
from benchmarks.machine import describe_busy, machine_lines, reexec_with_malloc_settings  # noqa: E402

LEVEL = "level_1_full_observability"
PACE = 60.0
VIEWERS = 10
COMPONENTS = ("play", "page", "viewers", "evaluator")


def post(api: str, path: str, body: dict[str, object] | None = None) -> None:
    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(f"{api}{path}", data=data, method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()


class Browser:
    """One headless Chromium; pages opened and closed per window."""

    def __init__(self) -> None:
        from playwright.sync_api import sync_playwright

        from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS

        self._playwright = sync_playwright().start()
        self.browser = self._playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )

    def open(self, url: str, width: int = 1366, height: int = 768):  # type: ignore[no-untyped-def]
        page = self.browser.new_page(viewport={"width": width, "height": height})
        page.goto(url)
        page.get_by_test_id("agent").wait_for(timeout=60_000)
        return page

    def close(self) -> None:
        self.browser.close()
        self._playwright.stop()


def part_one(args: argparse.Namespace, browser: Browser) -> list[str]:
    import torch

    from townlet.config import load_config
    from townlet.learner.trainer import DQNTrainer
    from townlet.orchestrator.evaluator import EvaluatorProcess
    from townlet.orchestrator.frontend import FrontendProcess
    from townlet.run_records import evaluation_log, metrics_log

    config_path = ROOT / "configs" / f"{LEVEL}.yaml"
    config = load_config(config_path)
    config = config.model_copy(
        update={
            "live": config.live.model_copy(update={"steps_per_second": PACE}),
            "checkpoint": config.checkpoint.model_copy(update={"every_seconds": 5.0}),
        }
    )
    scratch = tempfile.TemporaryDirectory()
    run_dir = Path(scratch.name)
    trainer = DQNTrainer(
        config, torch.device("cpu"), run_dir / "checkpoints", metrics=metrics_log(run_dir)
    )
    while not trainer.ready_to_learn():
        trainer.train_step()
    trainer.save()
    stop_training = threading.Event()
    # trainer.run: checkpoints, metrics and pausing exactly as in a real run.
    runner = threading.Thread(target=trainer.run, args=(stop_training,), name="training")
    runner.start()
    training = Training(trainer)  # only its rate_over() is used

    server = start_server(
        trainer,
        config,
        trainer.checkpoint_dir,
        args.in_process,
        run_dir=run_dir,
        page_origins=("http://127.0.0.1:5199",),
    )
    api = f"http://127.0.0.1:{server.port}"  # type: ignore[attr-defined]
    frontend = FrontendProcess(ROOT / "frontend", "127.0.0.1", 5199, server.port)
    frontend.start()
    frontend.wait_until_serving(threading.Event())
    post(api, "/api/play/speed", {"steps_per_second": PACE})

    rates: dict[str, list[float]] = {"none": [], "all": []}

    def measure_none() -> None:
        post(api, "/api/play/pause")
        time.sleep(args.settle)
        rates["none"].append(training.rate_over(args.seconds)[0])

    parts = set(args.with_only)

    def measure_all() -> None:
        evaluator = EvaluatorProcess(
            config_path, trainer.checkpoint_dir, evaluation_log(run_dir).path
        )
        if "evaluator" in parts:
            evaluator.start()
        if "play" in parts:
            post(api, "/api/play/resume")
        page = browser.open(frontend.url) if "page" in parts else None
        viewers = ViewerProcess(server.port, VIEWERS, args.seconds + args.settle)
        if "viewers" in parts:
            viewers.start()
        time.sleep(args.settle)
        rates["all"].append(training.rate_over(args.seconds)[0])
        if "viewers" in parts:
            viewers.result()
        else:
            viewers.process.kill()
            viewers.process.wait()
        if page is not None:
            page.close()
        evaluator.stop()

    lines: list[str] = []
    try:
        for round_ in range(args.rounds):
            order = (measure_none, measure_all) if round_ % 2 == 0 else (measure_all, measure_none)
            for window in order:
                window()
            line = (
                f"round {round_ + 1}: none {rates['none'][-1]:,.0f}, all {rates['all'][-1]:,.0f} "
                f"env steps/s (ratio {rates['all'][-1] / rates['none'][-1]:.3f})"
            )
            print(line, flush=True)
            lines.append(line)
    finally:
        stop_training.set()
        runner.join(60)
        frontend.stop()
        server.stop()
        evaluations = len(evaluation_log(run_dir).read_all())
        scratch.cleanup()
    none, everything = statistics.mean(rates["none"]), statistics.mean(rates["all"])
    per_round = [a / n for a, n in zip(rates["all"], rates["none"], strict=True)]
    return [
        "",
        "| measure | value |",
        "|---|---:|",
        f"| training, nothing watching (live play paused) | {none:,.0f} env steps/s |",
        f"| training with the page, charts, evaluator, {VIEWERS} viewers at {PACE:g} steps/s "
        f"| {everything:,.0f} env steps/s |",
        f"| **ratio all / none** | **{everything / none:.3f}** |",
        f"| ratio per round (min, max) | {min(per_round):.3f}, {max(per_round):.3f} |",
        f"| checkpoints evaluated during the run | {evaluations} |",
    ]


def part_two(args: argparse.Namespace, browser: Browser) -> list[str]:
    import torch

    from townlet.config import load_config
    from townlet.learner.trainer import DQNTrainer
    from townlet.live import run_history
    from townlet.live.app import create_app
    from townlet.live.server_thread import LiveServerThread, bind_socket
    from townlet.orchestrator.frontend import FrontendProcess
    from townlet.run_records import MetricPoint, metrics_log

    run_history.HISTORY_POINTS = args.points  # send the page every point, none downsampled
    config = load_config(ROOT / "configs" / f"{LEVEL}.yaml")
    scratch = tempfile.TemporaryDirectory()
    run_dir = Path(scratch.name)
    trainer = DQNTrainer(config, torch.device("cpu"), run_dir / "checkpoints")
    trainer.save()

    def point(index: int) -> MetricPoint:
        wave = (index % 500) / 500
        return MetricPoint(
            env_step=index * 2048,
            episode=index * 12,
            wall_time=time.time(),
            training_survival=100 + 300 * wave,
            episode_return=50 + 200 * wave,
            td_loss=0.1 + wave,
            epsilon=max(0.02, 1 - index / args.points),
            learning_rate=5e-4,
            steps_per_second=40_000 + 5_000 * wave,
            curriculum_stage=None,
        )

    records = metrics_log(run_dir)
    records.append_all([point(i) for i in range(args.points)])
    server = LiveServerThread(
        create_app(
            config,
            trainer.checkpoint_dir,
            trainer.progress,
            run_dir=run_dir,
            page_origins=["http://127.0.0.1:5198"],
        ),
        bind_socket("127.0.0.1", 0),
    )
    server.start()
    frontend = FrontendProcess(ROOT / "frontend", "127.0.0.1", 5198, server.port)
    frontend.start()
    frontend.wait_until_serving(threading.Event())
    try:
        page = browser.open(frontend.url, 1920, 1080)
        page.wait_for_function(
            f"Number(document.querySelector('[data-testid=chart-loss]')"
            f"?.dataset.points ?? 0) >= {args.points}",
            timeout=60_000,
        )
        page.evaluate("performance.clearMeasures('townlet:chart-redraw')")
        for i in range(args.updates):
            records.append(point(args.points + i))
            time.sleep(1.0)
        entries = page.evaluate(
            "performance.getEntriesByName('townlet:chart-redraw')"
            ".map(e => [e.startTime, e.duration])"
        )
        shown = int(page.get_by_test_id("chart-loss").get_attribute("data-points") or 0)
        page.close()
    finally:
        frontend.stop()
        server.stop()
        scratch.cleanup()
    durations = [duration for _, duration in entries]
    # Redraws in one frame run back to back in one task: group entries that start within
    # 4 ms of the previous one's end (frames are 16.7 ms apart at 60 Hz).
    frames: list[float] = []
    last_end = -1e9
    for start, duration in sorted(entries):
        if start - last_end > 4:
            frames.append(0.0)
        frames[-1] += duration
        last_end = start + duration
    return [
        "",
        f"Chart redraws in Chromium (headless, software rendering) with {shown:,} points per "
        f"series, {args.updates} live updates at 1 per second:",
        "",
        "| measure | value |",
        "|---|---:|",
        f"| redraws recorded (charts x updates) | {len(durations)} |",
        f"| one chart's redraw: mean, max | {statistics.mean(durations):.1f} ms, "
        f"{max(durations):.1f} ms |",
        f"| chart drawing in one frame: mean, max | {statistics.mean(frames):.1f} ms, "
        f"{max(frames):.1f} ms |",
        f"| frames with chart drawing | {len(frames)} |",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0, help="length of each window")
    parser.add_argument("--settle", type=float, default=3.0, help="seconds before a window")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--points", type=int, default=20_000)
    parser.add_argument("--updates", type=int, default=10)
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/page.md")
    parser.add_argument("--skip-training", action="store_true", help="part 2 only")
    parser.add_argument(
        "--with-only",
        nargs="+",
        choices=COMPONENTS,
        default=list(COMPONENTS),
        help="what the 'all' windows run (to find what costs what)",
    )
    parser.add_argument("--skip-redraw", action="store_true", help="part 1 only")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="the live server in a thread of the training process (the layout before)",
    )
    args = parser.parse_args()

    reexec_with_malloc_settings()
    import torch

    torch.set_num_threads(1)
    header = machine_lines()
    print("\n".join(header), flush=True)
    browser = Browser()
    try:
        table = [] if args.skip_training else part_one(args, browser)
        redraws = [] if args.skip_redraw else part_two(args, browser)
    finally:
        browser.close()
    markdown = "\n".join(
        [
            "# Watching while training",
            "",
            __doc__.split("\n\n")[1].replace("\n", " "),
            "",
            f"Made by `benchmarks/bench_page.py` ({args.rounds} rounds of {args.seconds:g} s "
            "windows, mirrored order every other round).",
            "",
            *header,
            describe_busy("after the run"),
            *table,
            *redraws,
            "",
        ]
    )
    print(markdown)
    args.output.write_text(markdown)
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()

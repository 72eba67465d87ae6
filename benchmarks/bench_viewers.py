"""What live viewers cost training, and whether stalled viewers hurt the healthy ones.

Part 1: a real DQNTrainer (the level's YAML, one torch thread) trains in a thread while the
live server plays its checkpoint at 60 steps/s. Training env steps/s are timed in
alternating windows: no live server, the server with no viewer, the server with 50 viewers
reading every message. The viewers run in a child process (as browsers would), so only the
server's own work competes with training.

Part 2: the server keeps 5 healthy viewers while 20 stalled ones (raw WebSocket clients
with a tiny receive buffer that never read after the handshake) stay connected. Prints the
states/s each healthy viewer receives, the longest gap between two of its states, and how
long the server took to drop the stalled ones.

The live server runs as run_demo.py runs it, in a process of its own; --in-process puts it in
a thread of the training process instead (the layout before, which shares one interpreter
lock with training).

    python benchmarks/bench_viewers.py [--seconds 4] [--rounds 6] [--viewers 50] [--stalled 20]
                                       [--in-process]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import resource
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT))

from benchmarks.machine import describe_busy, machine_lines, reexec_with_malloc_settings  # noqa: E402

LEVEL = "level_1_full_observability"
PACE = 60.0  # the live server's top speed: the most messages a viewer can cost


# ----------------------------------------------------------------- viewer child process
async def _watch(port: int, seconds: float, ready: asyncio.Barrier) -> list[float]:
    """One viewer: connect, wait for everyone, then time every `state` for `seconds`."""
    from websockets.asyncio.client import connect

    times: list[float] = []
    # Compression on, as browsers negotiate it: the server pays for it per viewer.
    async with connect(f"ws://127.0.0.1:{port}/ws", max_queue=None) as ws:
        await ws.recv()  # hello
        await ready.wait()
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                text = await asyncio.wait_for(ws.recv(), timeout=left)
            except TimeoutError:
                break
            if isinstance(text, str) and text.startswith('{"type":"state"'):
                times.append(time.monotonic())
    return times


async def _viewers(port: int, count: int, seconds: float) -> None:
    launched = time.monotonic()
    ready = asyncio.Barrier(count + 1)
    tasks = [asyncio.create_task(_watch(port, seconds, ready)) for _ in range(count)]
    await ready.wait()
    start = time.monotonic()
    print("ready", flush=True)
    results = await asyncio.gather(*tasks)
    end = start + seconds
    rates, gaps = [], []
    for times in results:
        rates.append(len(times) / seconds)
        edges = [start, *times, end]
        gaps.append(max(b - a for a, b in itertools.pairwise(edges)))
    usage = resource.getrusage(resource.RUSAGE_SELF)
    cores = (usage.ru_utime + usage.ru_stime) / (time.monotonic() - launched)
    print(json.dumps({"rates": rates, "gaps": gaps, "cores": cores}), flush=True)


class ViewerProcess:
    """``count`` viewers in a child process; ``start()`` returns once all have their hello."""

    def __init__(self, port: int, count: int, seconds: float) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--viewer-process", str(port), str(count), str(seconds)],
            stdout=subprocess.PIPE,
            text=True,
        )

    def start(self) -> None:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().strip()
        if line != "ready":
            raise RuntimeError(f"viewer process failed to start: {line!r}")

    def result(self) -> dict[str, list[float]]:
        out, _ = self.process.communicate(timeout=120)
        return json.loads(out.strip().splitlines()[-1])


# ----------------------------------------------------------------- stalled viewers
def stalled_viewer(port: int) -> socket.socket:
    """A WebSocket client that completes the handshake and then never reads again."""
    sock = socket.socket()
    # A tiny receive window makes the server's buffers fill in seconds, not minutes.
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", port))
    sock.sendall(
        f"GET /ws HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
        "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        "Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    response = b""
    while b"\r\n\r\n" not in response:
        response += sock.recv(1)  # byte by byte: leave the frames that follow unread
    if not response.startswith(b"HTTP/1.1 101"):
        raise RuntimeError(f"handshake refused: {response!r}")
    return sock


def clients(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as response:
        return int(json.load(response)["clients"])


# ----------------------------------------------------------------- training
class Training:
    """train_step() in a thread, as the orchestrator's training worker runs it."""

    def __init__(self, trainer: object) -> None:
        self.trainer = trainer
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name="training")

    def _run(self) -> None:
        while not self.stop.is_set():
            self.trainer.train_step()  # type: ignore[attr-defined]

    def steps(self) -> int:
        return int(self.trainer.env_step)  # type: ignore[attr-defined]

    def rate_over(self, seconds: float, server: object | None = None) -> tuple[float, float]:
        """(env steps/s, the live server's CPU in cores) over ``seconds``."""
        steps0, cpu0, start = self.steps(), server_cpu_seconds(server), time.perf_counter()
        time.sleep(seconds)
        elapsed = time.perf_counter() - start
        return (self.steps() - steps0) / elapsed, (server_cpu_seconds(server) - cpu0) / elapsed


def server_cpu_seconds(server: object | None) -> float:
    """CPU seconds the live server has used: its process, or its thread in this process
    (Linux /proc; 0 elsewhere)."""
    if server is None:
        return 0.0
    process = getattr(server, "process", None)
    path = (
        f"/proc/{process.pid}/stat"
        if process is not None
        else f"/proc/self/task/{server.thread.native_id}/stat"  # type: ignore[attr-defined]
    )
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def start_server(
    trainer: object,
    config: object,
    checkpoint_dir: Path,
    in_process: bool,
    run_dir: Path | None = None,
    page_origins: tuple[str, ...] = (),
) -> object:
    """The live server as run_demo.py starts it (a process of its own), or in a thread of
    this process (``in_process``: the layout before, for comparison)."""
    from townlet.live.app import create_app
    from townlet.live.process_link import LiveServerSetup
    from townlet.live.server_thread import LiveServerThread, bind_socket
    from townlet.orchestrator.live_server_process import LiveServerProcess

    sock = bind_socket("127.0.0.1", 0)
    if in_process:
        app = create_app(
            config,  # type: ignore[arg-type]
            checkpoint_dir,
            trainer.progress,  # type: ignore[attr-defined]
            catalog=trainer.catalog,  # type: ignore[attr-defined]
            run_dir=run_dir,
            page_origins=page_origins,
            training_control=trainer,  # type: ignore[arg-type]
        )
        server: object = LiveServerThread(app, sock)
    else:
        setup = LiveServerSetup(
            config=config,  # type: ignore[arg-type]
            checkpoint_dir=checkpoint_dir,
            obs_dim=trainer.world.obs_dim,  # type: ignore[attr-defined]
            page_origins=page_origins,
            run_dir=run_dir,
            runs_dir=None,
            run_id=None,
            run_name=None,
            progress=trainer.progress(),  # type: ignore[attr-defined]
            training_controllable=True,
        )
        server = LiveServerProcess(
            setup,
            sock,
            trainer.progress,  # type: ignore[attr-defined]
            trainer,  # type: ignore[arg-type]
            trainer.catalog,  # type: ignore[attr-defined]
        )
    server.start()  # type: ignore[attr-defined]
    return server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=4.0, help="length of each window")
    parser.add_argument("--rounds", type=int, default=6, help="alternations of the 3 windows")
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--stalled", type=int, default=20)
    parser.add_argument("--stall-seconds", type=float, default=15.0, help="part 2 window")
    parser.add_argument("--output", type=Path, default=ROOT / "benchmarks/results/viewers.md")
    parser.add_argument("--note", default="", help="a line for the results file (which code)")
    parser.add_argument(
        "--in-process",
        action="store_true",
        help="the live server in a thread of the training process (the layout before)",
    )
    args = parser.parse_args()

    reexec_with_malloc_settings()
    import torch

    from townlet.config import load_config
    from townlet.learner.trainer import DQNTrainer

    torch.set_num_threads(1)
    header = machine_lines()
    print("\n".join(header), flush=True)
    config = load_config(ROOT / "configs" / f"{LEVEL}.yaml")
    config = config.model_copy(
        update={"live": config.live.model_copy(update={"steps_per_second": PACE})}
    )
    scratch = tempfile.TemporaryDirectory()
    checkpoint_dir = Path(scratch.name)
    trainer = DQNTrainer(config, torch.device("cpu"), checkpoint_dir)
    while not trainer.ready_to_learn():
        trainer.train_step()
    for _ in range(20):  # warm-up: the first updates allocate optimiser state
        trainer.train_step()
    trainer.save()  # the checkpoint the live server plays
    training = Training(trainer)
    training.thread.start()

    # Part 1: rounds of the three windows, in mirrored order every other round (alone,
    # server, viewers; then viewers, server, alone) so that drift hits all three alike.
    windows: dict[str, list[float]] = {"alone": [], "server": [], "viewers": []}
    server_cpu: dict[str, list[float]] = {"server": [], "viewers": []}
    delivered: list[float] = []
    viewer_cores: list[float] = []

    def measure(name: str, server: object | None = None) -> None:
        rate, cpu = training.rate_over(args.seconds, server)
        windows[name].append(rate)
        if name in server_cpu:
            server_cpu[name].append(cpu)

    def with_viewers(server: object) -> None:
        viewers = ViewerProcess(server.port, args.viewers, args.seconds)  # type: ignore[attr-defined]
        viewers.start()
        measure("viewers", server)
        report = viewers.result()
        delivered.extend(report["rates"])
        viewer_cores.append(report["cores"])

    for round_ in range(args.rounds):
        mirrored = round_ % 2 == 1
        if not mirrored:
            measure("alone")
        server = start_server(trainer, config, checkpoint_dir, args.in_process)
        time.sleep(1.0)  # let the player load its checkpoint
        if mirrored:
            with_viewers(server)
            measure("server", server)
        else:
            measure("server", server)
            with_viewers(server)
        server.stop()  # type: ignore[attr-defined]
        if mirrored:
            measure("alone")
        print(
            f"round {round_ + 1}: alone {windows['alone'][-1]:,.0f}, server "
            f"{windows['server'][-1]:,.0f}, {args.viewers} viewers "
            f"{windows['viewers'][-1]:,.0f} env steps/s "
            f"(ratio {windows['viewers'][-1] / windows['alone'][-1]:.3f}); server "
            f"{server_cpu['server'][-1]:.2f} -> {server_cpu['viewers'][-1]:.2f} cores",
            flush=True,
        )
    mean = {name: sum(values) / len(values) for name, values in windows.items()}
    cpu_mean = {name: sum(values) / len(values) for name, values in server_cpu.items()}
    per_round = [v / a for v, a in zip(windows["viewers"], windows["alone"], strict=True)]

    # Part 2: healthy viewers beside stalled ones.
    server = start_server(trainer, config, checkpoint_dir, args.in_process)
    port = server.port  # type: ignore[attr-defined]
    healthy_count = 5
    healthy = ViewerProcess(port, healthy_count, args.stall_seconds)
    healthy.start()
    opened = time.monotonic()
    stalled = [stalled_viewer(port) for _ in range(args.stalled)]
    dropped_after: float | None = None
    while time.monotonic() - opened < args.stall_seconds:
        if dropped_after is None and clients(port) <= healthy_count:
            dropped_after = time.monotonic() - opened
        time.sleep(0.1)
    report = healthy.result()
    for sock in stalled:
        sock.close()
    server.stop()  # type: ignore[attr-defined]

    training.stop.set()
    training.thread.join()
    scratch.cleanup()
    header.append(describe_busy("after the run"))

    rates, gaps = report["rates"], report["gaps"]
    dropped = f"{dropped_after:.1f} s" if dropped_after is not None else "not within the window"
    lines = [
        "| measure | value |",
        "|---|---:|",
        f"| training alone (no live server) | {mean['alone']:,.0f} env steps/s |",
        f"| training + live server at {PACE:g} steps/s, no viewer | "
        f"{mean['server']:,.0f} env steps/s |",
        f"| training + {args.viewers} viewers | {mean['viewers']:,.0f} env steps/s |",
        f"| **ratio {args.viewers} viewers / alone** | **{mean['viewers'] / mean['alone']:.3f}** |",
        f"| ratio {args.viewers} viewers / server, no viewer | "
        f"{mean['viewers'] / mean['server']:.3f} |",
        f"| ratio {args.viewers} viewers / alone, per round (min, max) | "
        f"{min(per_round):.3f}, {max(per_round):.3f} |",
        f"| live server CPU, no viewer / {args.viewers} viewers (cores) | "
        f"{cpu_mean['server']:.3f} / {cpu_mean['viewers']:.3f} |",
        f"| CPU of the {args.viewers} viewers' own process (cores) | "
        f"{sum(viewer_cores) / len(viewer_cores):.2f} |",
        f"| states/s each of the {args.viewers} viewers received (mean, min) | "
        f"{sum(delivered) / len(delivered):.1f}, {min(delivered):.1f} |",
        f"| {healthy_count} healthy viewers beside {args.stalled} stalled: states/s (mean, min) | "
        f"{sum(rates) / len(rates):.1f}, {min(rates):.1f} |",
        f"| longest gap between two states of a healthy viewer | {max(gaps):.2f} s |",
        f"| stalled viewers all dropped after | {dropped} |",
    ]
    print("\n" + "\n".join(lines))
    markdown = "\n".join(
        [
            "# Live viewers",
            "",
            f"{LEVEL} trains in a thread (one torch thread) while the live server plays",
            "(in a thread of the same process)" if args.in_process else "(in its own process)",
            f"at {PACE:g} steps/s. Env steps/s are the mean of {args.rounds} rounds of "
            f"{args.seconds:g} s windows",
            "(mirrored order every other round); the viewers run in a child process. Training",
            "alone varies by about +-15% between 4 s windows on this machine, so single rounds",
            "scatter (see the per-round range). Part 2 holds",
            f"{healthy_count} healthy viewers beside {args.stalled} stalled ones (raw WebSocket",
            f"clients that never read) for {args.stall_seconds:g} s.",
            "Made by `benchmarks/bench_viewers.py`.",
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
    if len(sys.argv) == 5 and sys.argv[1] == "--viewer-process":
        asyncio.run(_viewers(int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4])))
    else:
        main()

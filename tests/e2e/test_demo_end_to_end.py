"""The product as a user runs it: run_demo.py, real Vite, real Chromium, then Ctrl+C."""

from __future__ import annotations

import json
import re
import socket
import time
from pathlib import Path

import pytest
import torch
from playwright.sync_api import Page, sync_playwright
from websockets.sync.client import connect

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.demo_process import DemoProcess, alive, descendants, free_port, write_tiny_config
from tests.support.tiny import tiny_config
from townlet.checkpoints import checkpoint_name, find_latest_checkpoint, load_checkpoint
from townlet.learner.networks import build_q_network
from townlet.learner.trainer import DQNTrainer

pytestmark = pytest.mark.e2e
needs_chromium = pytest.mark.skipif(
    not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh)"
)


def _agent_and_meters(page: Page) -> tuple[str, str, str]:
    agent = page.get_by_test_id("agent")
    return (
        agent.get_attribute("data-x") or "",
        agent.get_attribute("data-y") or "",
        page.get_by_test_id("meter-energy").get_attribute("data-value") or "",
    )


@needs_chromium
def test_demo_trains_serves_shows_the_page_and_stops_cleanly(tmp_path: Path) -> None:
    api_port, frontend_port = free_port(), free_port()
    config = write_tiny_config(tmp_path)
    runs = tmp_path / "runs"
    demo = DemoProcess(
        [
            "--config",
            str(config),
            "--no-browser",
            "--runs-dir",
            str(runs),
            "--port",
            str(api_port),
            "--frontend-port",
            str(frontend_port),
        ]
    )
    try:
        demo.wait_for_line(r"ready in [\d.]+ s: open http", timeout=120)
        page_url = f"http://127.0.0.1:{frontend_port}/"

        # --- the page, through Vite, in a real Chromium
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(page_url)
            page.get_by_test_id("agent").wait_for(timeout=30_000)
            for name in ("Bed", "Job", "Park", "Bar"):
                assert page.get_by_test_id(f"affordance-{name}").is_visible()
            first = _agent_and_meters(page)
            # The agent moves and the meters drain as live play goes on.
            page.wait_for_function(
                """([x, y, energy]) => {
                    const agent = document.querySelector('[data-testid=agent]');
                    const meter = document.querySelector('[data-testid=meter-energy]');
                    return meter.dataset.value !== energy
                        && (agent.dataset.x !== x || agent.dataset.y !== y);
                }""",
                arg=list(first),
                timeout=30_000,
            )
            assert page.get_by_test_id("checkpoint-name").inner_text().startswith("ckpt_")
            browser.close()

        # --- the protocol, through the frontend's proxy
        with connect(f"ws://127.0.0.1:{frontend_port}/ws", open_timeout=10) as socket:
            hello = json.loads(socket.recv(timeout=10))
            assert hello["type"] == "hello"
            assert hello["grid"] == {"width": 8, "height": 8}
            assert len(hello["affordances"]) == 14 and len(hello["meters"]) == 8
            states = []
            deadline = time.monotonic() + 20
            while len(states) < 5 and time.monotonic() < deadline:
                message = json.loads(socket.recv(timeout=10))
                if message["type"] == "state":
                    states.append(message)
            assert len(states) == 5
            assert all(
                len(s["q_values"]) == 6 and set(s["meters"]) == set(hello["meters"]) for s in states
            )
            assert [s["step"] for s in states] == sorted(s["step"] for s in states)

        # --- Ctrl+C
        tree = descendants(demo.process.pid)
        assert tree, "the frontend should be running as a child"
        interrupted = time.monotonic()
        demo.interrupt()
        exit_code = demo.process.wait(timeout=20)
        stop_seconds = time.monotonic() - interrupted
        demo.drain()
        assert exit_code == 0, demo.log()
        assert stop_seconds < 20
        assert [pid for pid in tree if alive(pid)] == [], "processes left behind"
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()

    # --- the shutdown order and the final checkpoint
    log = demo.log()
    order = [
        log.index("training stopped"),
        log.index("live server stopped"),
        log.index("frontend stopped"),
    ]
    assert order == sorted(order), log
    checkpoint_dirs = list(runs.glob("tiny_level_1/*/checkpoints"))
    assert len(checkpoint_dirs) == 1
    final = find_latest_checkpoint(checkpoint_dirs[0])
    assert final is not None and final.name in log
    state = load_checkpoint(final)
    network = build_q_network(state["model_args"])
    network.load_state_dict(state["online"])
    assert state["counters"]["env_step"] > 0


def test_a_later_run_resumes_where_the_last_one_stopped(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    runs = tmp_path / "runs"

    def run_once() -> DemoProcess:
        demo = DemoProcess(
            [
                "--config",
                str(config),
                "--no-frontend",
                "--runs-dir",
                str(runs),
                "--port",
                str(free_port()),
            ]
        )
        try:
            demo.wait_for_line(r"ready in", timeout=60)
            demo.wait_for_line(r"\[Inference\] playing ckpt_ep0*[1-9]", timeout=60)  # trained a bit
            demo.interrupt()
            assert demo.process.wait(timeout=20) == 0
            demo.drain()
        finally:
            if demo.process.poll() is None:
                demo.kill_everything()
        return demo

    first = run_once()
    stopped_at = re.search(
        r"final checkpoint written: (\S+) \(episode (\d+), env step (\d+)\)", first.log()
    )
    assert stopped_at, first.log()
    second = run_once()
    resumed = re.search(r"resuming from (\S+) \(episode (\d+), env step (\d+)\)", second.log())
    assert resumed, second.log()
    assert Path(resumed[1]).name == stopped_at[1]
    assert (resumed[2], resumed[3]) == (stopped_at[2], stopped_at[3])
    # The new run's counters carry on from there: its first checkpoint is where the last stopped.
    # (The live server, starting in its own process meanwhile, may already play a newer one.)
    first_written = re.search(r"\[Training\] checkpoint written: (\S+)", second.log())
    expected = checkpoint_name(int(stopped_at[2]), int(stopped_at[3]))
    assert first_written and first_written[1] == expected, second.log()


@pytest.mark.parametrize("flag", ["--port", "--frontend-port"])
def test_a_busy_port_is_reported_before_anything_starts(tmp_path: Path, flag: str) -> None:
    runs = tmp_path / "runs"
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        ports = {"--port": str(free_port()), "--frontend-port": str(free_port()), flag: str(busy)}
        demo = DemoProcess(
            [
                "--config",
                str(write_tiny_config(tmp_path)),
                "--no-browser",
                "--runs-dir",
                str(runs),
                *[item for pair in ports.items() for item in pair],
            ]
        )
        assert demo.process.wait(timeout=60) == 2
        demo.drain()
    assert f"port {busy} on 127.0.0.1 is already in use" in demo.log()
    assert f"pick another with {flag}" in demo.log()
    assert not runs.exists(), "nothing may be written when start-up fails"


def test_resuming_a_checkpoint_of_another_network_is_refused_with_advice(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    checkpoints = runs / "tiny_level_1" / "earlier" / "checkpoints"
    other = tiny_config(network={"kind": "mlp", "hidden_sizes": [16, 16]})
    DQNTrainer(other, torch.device("cpu"), checkpoints).save()
    demo = DemoProcess(
        [
            "--config",
            str(write_tiny_config(tmp_path)),
            "--no-frontend",
            "--runs-dir",
            str(runs),
            "--port",
            str(free_port()),
        ]
    )
    assert demo.process.wait(timeout=60) == 2
    demo.drain()
    assert "network but the config asks for" in demo.log() and "--fresh" in demo.log()
    assert sorted(p.name for p in (runs / "tiny_level_1").iterdir()) == ["earlier"]

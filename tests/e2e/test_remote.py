"""Trainer on one address, page on another, as on a GPU box and a laptop: real processes,
real Vite, real Chromium. The trainer serves on 127.0.0.2 (off 127.0.0.1, so a token is
required), the page on 127.0.0.1 with ``--trainer-url``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.demo_process import (
    PROJECT_ROOT,
    VITE,
    DemoProcess,
    alive,
    descendants,
    free_port,
    write_tiny_config,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not VITE.exists(), reason="needs frontend/node_modules (npm ci)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]

TOKEN = "e2e-remote-token-0123456789abcdef"
TRAINER_HOST = "127.0.0.2"
# The trainer turns red within this long of going away, and green within it of coming back.
INDICATOR_SECONDS = 3.0


def trainer_args(
    config: Path, runs: Path, port: int, page_port: int, host: str = TRAINER_HOST
) -> list[str]:
    """The GPU box's side; ``page_port``: where the laptop's page is served (its origin)."""
    args = ["--config", str(config), "--runs-dir", str(runs), "--no-browser", "--no-frontend"]
    args += ["--host", host, "--port", str(port), "--frontend-port", str(page_port)]
    return [*args, "--token", TOKEN] if host != "127.0.0.1" else args


def page_args(trainer_url: str, page_port: int, token: str | None) -> list[str]:
    args = ["--trainer-url", trainer_url, "--frontend-port", str(page_port), "--no-browser"]
    return [*args, "--token", token] if token else args


@contextmanager
def running(args: list[str], ready: str) -> Iterator[DemoProcess]:
    process = DemoProcess(args)
    try:
        process.wait_for_line(ready, timeout=120)
        yield process
    finally:
        if process.process.poll() is None:
            process.interrupt()
            with suppress(subprocess.TimeoutExpired):
                process.process.wait(30)
        process.kill_everything()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
        )
        try:
            yield browser
        finally:
            browser.close()


def open_page(browser: Browser, url: str) -> Page:
    """A page in a context of its own (its own cookies), at ``url``."""
    page = browser.new_context(viewport={"width": 1366, "height": 768}).new_page()
    page.goto(url)
    return page


def indicator_state(page: Page, state: str, timeout_s: float) -> float:
    """Wait until the trainer indicator shows ``state``; the seconds it took."""
    started = time.monotonic()
    page.wait_for_function(
        "s => document.querySelector('[data-testid=trainer-indicator]')?.dataset.state === s",
        arg=state,
        timeout=timeout_s * 1000,
    )
    return time.monotonic() - started


def step_moves(page: Page, timeout_s: float) -> None:
    """Live states arrive: the step counter changes."""
    counter = page.get_by_test_id("step-counter")
    counter.wait_for(timeout=timeout_s * 1000)
    before = counter.get_attribute("data-step")
    page.wait_for_function(
        "b => document.querySelector('[data-testid=step-counter]').dataset.step !== b",
        arg=before,
        timeout=timeout_s * 1000,
    )


def status_of(url: str, headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_split_trainer_and_page_red_and_green_within_3_s_and_states_flow_again(
    tmp_path: Path,
) -> None:
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    api_port, page_port = free_port(), free_port()
    trainer_url = f"http://{TRAINER_HOST}:{api_port}"
    trainer = DemoProcess(trainer_args(config, runs, api_port, page_port))
    try:
        trainer.wait_for_line(r"ready in", timeout=120)
        # Off 127.0.0.1: nothing answers without the token, controls included.
        assert status_of(f"{trainer_url}/health") == 401
        assert status_of(f"{trainer_url}/health", {"Authorization": f"Bearer {TOKEN}"}) == 200
        with (
            running(page_args(trainer_url, page_port, TOKEN), r"ready: open") as page_side,
            chromium() as browser,
        ):
            page = open_page(browser, f"http://127.0.0.1:{page_port}/")
            assert "trains here" not in page_side.log()
            indicator_state(page, "ok", 15)
            assert page.get_by_test_id("trainer-url").inner_text().strip() == trainer_url
            step_moves(page, 20)

            # The trainer dies (kill -9 of run_demo.py: its live server process goes too).
            tree = descendants(trainer.process.pid) | {trainer.process.pid}
            os.kill(trainer.process.pid, signal.SIGKILL)
            killed = time.monotonic()
            turned_red = indicator_state(page, "error", INDICATOR_SECONDS + 2)
            red_after = time.monotonic() - killed
            assert red_after <= INDICATOR_SECONDS, f"red after {red_after:.2f} s"
            assert turned_red <= INDICATOR_SECONDS
            assert "refused" in page.get_by_test_id("trainer-indicator").inner_text()
            trainer.process.wait(10)
            trainer.drain()
            deadline = time.monotonic() + 10
            while any(alive(pid) for pid in tree) and time.monotonic() < deadline:
                time.sleep(0.05)

            # It comes back on the same address: green within 3 s, and live play flows again.
            trainer = DemoProcess(trainer_args(config, runs, api_port, page_port))
            trainer.wait_for_line(r"ready in", timeout=120)
            back = time.monotonic()
            indicator_state(page, "ok", INDICATOR_SECONDS + 2)
            green_after = time.monotonic() - back
            assert green_after <= INDICATOR_SECONDS, f"green after {green_after:.2f} s"
            step_moves(page, 20)

            # A page with the wrong token: red, and says so.
            wrong_port = free_port()
            with running(
                page_args(trainer_url, wrong_port, "not-the-trainers-token-000"), r"ready: open"
            ) as wrong:
                wrong_page = open_page(browser, f"http://127.0.0.1:{wrong_port}/")
                assert "bad token" in wrong.log()
                indicator_state(wrong_page, "error", 10)
                assert "bad token" in wrong_page.get_by_test_id("trainer-indicator").inner_text()
        trainer.interrupt()
        assert trainer.process.wait(30) == 0
    finally:
        trainer.kill_everything()


def test_run_ui_remote_localhost_and_the_all_local_default(tmp_path: Path) -> None:
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    api_port, page_port = free_port(), free_port()
    with running(
        trainer_args(config, runs, api_port, page_port, host="127.0.0.1"), r"ready in"
    ) as trainer:
        assert "token" not in trainer.log(), "no token on 127.0.0.1"
        assert status_of(f"http://127.0.0.1:{api_port}/health") == 200
        script = subprocess.Popen(
            [
                "bash",
                str(PROJECT_ROOT / "scripts" / "run_ui.sh"),
                "--remote",
                "localhost",
                "--port",
                str(api_port),
                "--frontend-port",
                str(page_port),
                "--no-browser",
            ],
            cwd=PROJECT_ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            start_new_session=True,
        )
        try:
            assert script.stdout is not None
            for line in script.stdout:
                if "ready: open" in line:
                    break
            else:
                pytest.fail("run_ui.sh --remote localhost did not get ready")
            with chromium() as browser:
                page = open_page(browser, f"http://127.0.0.1:{page_port}/")
                indicator_state(page, "ok", 15)
                assert (
                    page.get_by_test_id("trainer-url").inner_text().strip()
                    == f"http://localhost:{api_port}"
                )
                step_moves(page, 20)
            # The same proxy answers the page's own HTTP paths.
            with urllib.request.urlopen(
                f"http://127.0.0.1:{page_port}/health", timeout=5
            ) as response:
                assert json.load(response)["status"] == "ok"
        finally:
            os.killpg(script.pid, signal.SIGINT)
            assert script.wait(30) == 0
            if script.stdout is not None:
                script.stdout.close()


def test_all_remote_the_page_served_off_loopback_needs_the_token_once_then_keeps_it(
    tmp_path: Path,
) -> None:
    """Trainer and page both on the 'GPU box' address; the browser comes from elsewhere."""
    config, runs = write_tiny_config(tmp_path), tmp_path / "runs"
    api_port, page_port = free_port(), free_port()
    args = ["--config", str(config), "--runs-dir", str(runs), "--no-browser"]
    args += ["--host", TRAINER_HOST, "--port", str(api_port), "--frontend-port", str(page_port)]
    with running([*args, "--token", TOKEN], r"ready in") as both, chromium() as browser:
        page_url = f"http://{TRAINER_HOST}:{page_port}/"
        # The address to open is printed on the terminal, never written to the run's log.
        printed = both.wait_for_line(r"open once from another machine: (\S+)", timeout=10)
        assert printed[1] == f"{page_url}?token={TOKEN}"
        run_logs = list(runs.rglob("run.log"))
        assert run_logs and all(TOKEN not in path.read_text() for path in run_logs)
        # Without the token the page loads (it is public code) but gets nothing from training.
        stranger = open_page(browser, page_url)
        indicator_state(stranger, "error", 10)
        assert "bad token" in stranger.get_by_test_id("trainer-indicator").inner_text()
        assert status_of(f"{page_url}api/status") == 401
        stranger.close()

        # The address with the token, opened once: the token moves to a cookie, off the URL.
        page = open_page(browser, f"{page_url}?token={TOKEN}")
        assert page.url == page_url
        indicator_state(page, "ok", 10)
        step_moves(page, 20)
        cookie = next(c for c in page.context.cookies() if c["name"] == "townlet_token")
        assert cookie["httpOnly"] and cookie["sameSite"] == "Strict"
        # A later visit needs no token: the cookie carries it.
        again = page.context.new_page()
        again.goto(page_url)
        indicator_state(again, "ok", 10)

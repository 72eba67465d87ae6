"""Watching it learn, as a user does: run_demo.py, real Vite, real Chromium, one run shared.

The charts fill and keep growing; pausing training from the page stops env steps within a
second and resuming restarts them; the picker plays an older checkpoint; compare shows two
worlds at the same step; a reload gets the whole history back.
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.demo_process import (
    VITE,
    DemoProcess,
    alive,
    demo_args,
    descendants,
    free_port,
    write_tiny_config,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh)"),
    pytest.mark.skipif(not VITE.exists(), reason="needs frontend/node_modules (npm ci)"),
]


class Run:
    def __init__(self, demo: DemoProcess, api_port: int, page_url: str, browser: Browser) -> None:
        self.demo = demo
        self.api = f"http://127.0.0.1:{api_port}"
        self.page_url = page_url
        self.browser = browser

    def status(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.api}/api/status", timeout=5) as response:
            return json.load(response)

    def env_step(self) -> int:
        return int(self.status()["training"]["env_step"])

    def open_page(self) -> Page:
        page = self.browser.new_page(viewport={"width": 1366, "height": 768})
        page.goto(self.page_url)
        page.get_by_test_id("agent").wait_for(timeout=30_000)
        return page


def wait_until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def points(page: Page, chart: str) -> int:
    return int(page.get_by_test_id(chart).get_attribute("data-points") or 0)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Run]:
    folder = tmp_path_factory.mktemp("learning")
    api_port, frontend_port, tensorboard_port = free_port(), free_port(), free_port()
    args = demo_args(write_tiny_config(folder), folder / "runs", api_port, frontend_port)
    demo = DemoProcess([*args, "--tensorboard", str(tensorboard_port)])
    try:
        demo.wait_for_line(r"ready in [\d.]+ s: open http", timeout=120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            yield Run(demo, api_port, f"http://127.0.0.1:{frontend_port}/", browser)
            browser.close()
        children = descendants(demo.process.pid)
        demo.interrupt()
        # The fourth managed child stops last, after the frontend; nothing is left behind.
        demo.wait_for_line(r"frontend stopped", timeout=60)
        demo.wait_for_line(r"TensorBoard stopped", timeout=30)
        assert demo.process.wait(30) == 0
        wait_until(lambda: not any(alive(pid) for pid in children), 10, "every child to end")
    finally:
        demo.kill_everything()


def test_charts_fill_with_training_and_evaluations_and_keep_updating(run: Run) -> None:
    page = run.open_page()
    wait_until(lambda: points(page, "chart-return") >= 3, 30, "training points in the charts")
    wait_until(lambda: points(page, "chart-outcome") >= 1, 60, "a greedy evaluation")
    before = points(page, "chart-loss")
    last_x = float(page.get_by_test_id("chart-loss").get_attribute("data-last-x") or 0)
    wait_until(lambda: points(page, "chart-loss") > before, 10, "live points (about 1 a second)")
    later_x = float(page.get_by_test_id("chart-loss").get_attribute("data-last-x") or 0)
    assert later_x > last_x, "new points are later in env steps"
    # The greedy curve is labelled as such, and the training one as epsilon-greedy.
    survival = page.get_by_test_id("chart-survival").inner_text()
    assert "greedy evaluation" in survival and "ε-greedy" in survival

    # A reload gets the whole history at once, not only what arrives from then on.
    shown = points(page, "chart-loss")
    page.reload()
    page.get_by_test_id("agent").wait_for(timeout=30_000)
    wait_until(lambda: points(page, "chart-loss") >= shown, 10, "the history after a reload")
    page.close()


def test_pausing_training_from_the_page_stops_env_steps_within_a_second(run: Run) -> None:
    page = run.open_page()
    toggle = page.get_by_test_id("training-toggle")
    wait_until(lambda: run.status()["training"]["running"], 30, "training to run")
    toggle.click()
    clicked = time.monotonic()
    wait_until(lambda: run.status()["training"]["paused"], 1.0, "training to pause")
    assert time.monotonic() - clicked < 1.0
    stopped_at = run.env_step()
    time.sleep(1.0)  # a window to show nothing moves (not a wait for a condition)
    assert run.env_step() == stopped_at, "env steps moved while paused"
    status = page.get_by_test_id("training-status")
    wait_until(lambda: status.get_attribute("data-paused") == "true", 3, "the page to say paused")
    assert page.get_by_test_id("header-training").get_attribute("data-state") == "training paused"

    toggle.click()
    wait_until(lambda: run.env_step() > stopped_at, 3, "env steps after resuming")
    wait_until(lambda: status.get_attribute("data-paused") == "false", 3, "the page to say running")
    page.close()


def test_the_picker_plays_an_older_checkpoint_and_follows_the_newest_again(run: Run) -> None:
    page = run.open_page()
    items = page.get_by_test_id("checkpoint-item")
    picker = page.get_by_test_id("checkpoint-picker")
    wait_until(lambda: items.count() >= 3, 30, "three checkpoints in the picker")
    assert picker.get_attribute("data-follow") == "best", "live play follows the best by default"
    assert page.get_by_test_id("milestone-badge").count() >= 1
    oldest = items.first
    name = oldest.get_attribute("data-name")
    page.get_by_test_id("when-now").check()
    oldest.get_by_test_id("play-checkpoint").click()
    wait_until(
        lambda: page.get_by_test_id("checkpoint-name").inner_text() == name, 5, "the older one"
    )
    assert page.get_by_test_id("checkpoint-picker").get_attribute("data-follow") == "pinned"
    assert run.status()["model"]["checkpoint"] == name

    page.get_by_test_id("follow-newest").click()
    wait_until(lambda: picker.get_attribute("data-follow") == "newest", 5, "following again")
    page.get_by_test_id("follow-best").click()
    wait_until(lambda: picker.get_attribute("data-follow") == "best", 5, "the best again")
    page.close()


def test_compare_shows_two_worlds_at_the_same_step(run: Run) -> None:
    page = run.open_page()
    page.get_by_test_id("tab-compare").click()
    left, right = page.get_by_test_id("compare-left"), page.get_by_test_id("compare-right")
    left.wait_for(timeout=10_000)
    right.wait_for(timeout=10_000)
    survival = [page.get_by_test_id(f"compare-{s}-survival") for s in ("left", "right")]
    wait_until(lambda: int(survival[0].inner_text() or 0) >= 3, 10, "compare to step")
    # Lockstep: both sides show the same step (read in one go: one message updates both).
    steps = page.evaluate(
        """() => ['left', 'right'].map(side => document.querySelector(
            `[data-testid=compare-${side}-survival]`).textContent)"""
    )
    assert steps[0] == steps[1], steps
    names = [page.get_by_test_id(f"compare-{s}-checkpoint").inner_text() for s in ("left", "right")]
    assert names[0] != names[1], "the earliest milestone beside the newest"
    page.get_by_test_id("compare-stop").click()
    view = page.get_by_test_id("compare-view")
    wait_until(lambda: view.get_attribute("data-status") == "stopped", 5, "compare to stop")
    page.close()


def test_tensorboard_runs_beside_the_page_and_the_page_links_to_it(run: Run) -> None:
    page = run.open_page()
    link = page.get_by_test_id("tensorboard-link")
    link.wait_for(timeout=10_000)
    url = link.get_attribute("href")
    assert url is not None and url.startswith("http://127.0.0.1:")
    with urllib.request.urlopen(f"{url.rstrip('/')}/data/runs", timeout=10) as response:
        runs = json.load(response)
    assert any(name.endswith("tensorboard") for name in runs), runs
    page.close()


def test_screenshots_at_two_sizes(run: Run, tmp_path: Path) -> None:
    """Not a check of looks (a person does that): the page renders at both sizes without a
    horizontal scrollbar. The files are kept in the test's folder for a look."""
    for width, height in ((1366, 768), (1920, 1080)):
        page = run.browser.new_page(viewport={"width": width, "height": height})
        page.goto(run.page_url)
        page.get_by_test_id("agent").wait_for(timeout=30_000)
        overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
        assert overflow <= 0, f"horizontal scrollbar at {width}x{height} ({overflow} px)"
        page.screenshot(path=str(tmp_path / f"page_{width}x{height}.png"), full_page=True)
        page.close()

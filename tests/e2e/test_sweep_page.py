"""``run_demo.py --runs 2``: a real sweep on a real Ray, the live server, Vite and Chromium.

The page lists both trials with their curves and the band, picking the other trial makes the
live view play that trial's checkpoints, and Ctrl+C stops the trials (final checkpoints), Ray,
the server and Vite, leaving no process behind. Ray may already be running on this machine for
someone else: its processes are compared by pid before and after, never assumed absent.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from playwright.sync_api import sync_playwright

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.demo_process import DemoProcess, alive, descendants, free_port
from tests.support.sweeps import none_left, ray_service_pids, wait_for, write_tiny_config
from townlet.registry import Registry

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium (scripts/setup.sh)"),
]

START_TIMEOUT = 90.0  # Ray, the live server and Vite, on a busy 2-core machine
STOP_TIMEOUT = 90.0  # each trial's final checkpoint and its greedy evaluation, then the rest

T = TypeVar("T")


def _get(url: str) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _awaited(produce: Callable[[], T | None], timeout: float, what: str) -> T:
    """``produce()`` once it gives something, polled until ``timeout``."""
    deadline = time.monotonic() + timeout
    while (value := produce()) is None:
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.2)
    return value


def _sweep_with_curves(api: str) -> dict[str, Any] | None:
    """/api/sweep once both trials have a curve and the band averages both somewhere."""
    view = _get(f"{api}/api/sweep")
    if view is None or len(view["trials"]) != 2:
        return None
    if not all(len(trial["curve"]["env_step"]) >= 3 for trial in view["trials"]):
        return None
    return view if 2 in view["band"]["n"] else None


def test_the_sweep_page_follows_the_picked_trial_and_ctrl_c_stops_everything(
    tmp_path: Path,
) -> None:
    before = ray_service_pids()
    config = write_tiny_config(tmp_path)
    runs = tmp_path / "runs"
    api_port, frontend_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    demo = DemoProcess(
        [
            "--config",
            str(config),
            "--runs",
            "2",
            "--parallel",
            "2",
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
        demo.wait_for_line(r"ready in [\d.]+ s: open http", timeout=START_TIMEOUT)

        # --- the server: both trials, their learning curves, the mean with its band
        view = _awaited(
            lambda: _sweep_with_curves(api),
            START_TIMEOUT,
            "both trials' curves and a band over two trials",
        )
        assert [(t["index"], t["seed"], t["status"]) for t in view["trials"]] == [
            (0, 0, "running"),
            (1, 1, "running"),
        ]
        assert view["follow"]["mode"] == "best"
        two = view["band"]["n"].index(2)
        assert view["band"]["low"][two] <= view["band"]["mean"][two] <= view["band"]["high"][two]
        followed = view["follow"]["run"]
        other = next(t for t in view["trials"] if t["run"] != followed)

        # --- the page, through Vite, in a real Chromium
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.goto(f"http://127.0.0.1:{frontend_port}/")
            rows = page.get_by_test_id("sweep-trial-row")
            rows.nth(1).wait_for(timeout=30_000)
            assert rows.count() == 2
            assert [rows.nth(i).get_attribute("data-run") for i in range(2)] == [
                t["run"] for t in view["trials"]
            ]
            chart = page.get_by_test_id("sweep-chart")
            page.wait_for_function(
                """() => {
                    const chart = document.querySelector('[data-testid=sweep-chart]');
                    return chart && Number(chart.dataset.bandPoints) > 0
                        && Number(chart.dataset.trials) === 2 && chart.querySelector('canvas');
                }""",
                timeout=30_000,
            )
            assert "95% CI" in chart.inner_text()  # the band's edges, in the legend

            # Pick the trial the live view does not play: it plays that trial's checkpoints.
            page.get_by_test_id("sweep-follow").select_option(other["run"])
            checkpoints = _run_dir(runs, other["run"]) / "checkpoints"

            def plays_other() -> bool:
                health = _get(f"{api}/health")
                return (
                    health is not None
                    and health["run_id"] == other["run"]
                    and health["playing"] is not None
                    and (checkpoints / health["playing"]).is_file()
                )

            wait_for(plays_other, 30, f"the live view to play trial {other['run']}")
            page.wait_for_function(
                """(run) => document.querySelector('[data-testid=sweep-trial]')?.dataset.run === run
                    && document.querySelector(`[data-run="${run}"][data-testid=sweep-trial-row]`)
                        ?.dataset.followed === 'true'""",
                arg=other["run"],
                timeout=30_000,
            )
            assert f"#{other['index']}" in page.get_by_test_id("sweep-trial").inner_text()
            page.get_by_test_id("checkpoint-name").wait_for(timeout=30_000)
            assert page.get_by_test_id("checkpoint-name").inner_text().startswith("ckpt_")
            assert _get(f"{api}/api/sweep")["follow"]["mode"] == "picked"  # type: ignore[index]
            browser.close()

        # --- Ctrl+C: the trials stop (final checkpoints), then Ray, the server and Vite
        tree = descendants(demo.process.pid)
        demo.interrupt()
        assert demo.process.wait(timeout=STOP_TIMEOUT) == 0
        demo.drain()
        wait_for(lambda: not [pid for pid in tree if alive(pid)], 15, "every child to end")
        none_left(before)
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()

    log = demo.log()
    order = [
        log.index("stopping the sweep (Ctrl+C)"),
        log.index("every trial stopped"),
        log.index("Ray stopped"),
        log.index("live server stopped"),
        log.index("frontend stopped"),
    ]
    assert order == sorted(order), log
    registry = Registry(runs, create=False)
    try:
        (sweep,) = registry.sweeps()
        trials = registry.sweep_trials(sweep.id)
    finally:
        registry.close()
    assert sweep.status == "stopped"
    assert [t.status for t in trials] == ["stopped", "stopped"]
    assert all(t.end_reason and "final checkpoint written" in t.end_reason for t in trials)


def _run_dir(runs: Path, run_id: str) -> Path:
    registry = Registry(runs, create=False)
    try:
        record = registry.get(run_id)
    finally:
        registry.close()
    assert record is not None
    return Path(record.run_dir)

"""The page shows a firing alert and the machine it runs on: real run_demo.py, Vite, Chromium."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
import yaml
from playwright.sync_api import sync_playwright

from tests.support.chromium import CHROMIUM, CHROMIUM_ARGS
from tests.support.demo_process import (
    VITE,
    DemoProcess,
    demo_args,
    free_port,
    write_tiny_config,
)

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(not VITE.exists(), reason="needs frontend/node_modules (npm ci)"),
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian's chromium"),
]


def post(url: str, body: object) -> dict[str, object]:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def test_a_firing_alert_shows_in_the_banner_and_the_list_and_resolves(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["alerts"] = {"evaluate_every_seconds": 0.2}
    config.write_text(yaml.safe_dump(data))
    api_port, page_port = free_port(), free_port()
    demo = DemoProcess(demo_args(config, tmp_path / "runs", api_port, page_port))
    try:
        demo.wait_for_line(r"ready in", timeout=120)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True
            )
            page = browser.new_page(viewport={"width": 1366, "height": 768})
            page.goto(f"http://127.0.0.1:{page_port}/")
            page.get_by_test_id("alerts-panel").wait_for(timeout=30_000)
            # No GPU on this machine: the panel says so instead of showing empty cards.
            page.get_by_test_id("gpu-absent").wait_for(timeout=10_000)
            # The reason comes with GET /api/system, which may answer after the card shows.
            page.wait_for_function(
                "document.querySelector('[data-testid=gpu-note]')?.textContent"
                ".includes('no NVIDIA GPU')",
                timeout=10_000,
            )
            page.wait_for_function(
                "Number(document.querySelector('[data-testid=system-panel]')?.dataset.samples) > 0",
                timeout=10_000,
            )
            assert page.get_by_test_id("alert-banner").count() == 0

            # A rule that holds at once (more free disk than any machine has) fires.
            rule = {
                "name": "disk-needs-a-petabyte",
                "kind": "disk_free",
                "threshold": 1e15,
                "for_seconds": 0,
                "severity": "critical",
                "enabled": True,
            }
            post(f"http://127.0.0.1:{api_port}/api/alerts/rules", rule)
            firing = page.locator('[data-testid=alert-firing][data-name="disk-needs-a-petabyte"]')
            firing.wait_for(timeout=10_000)
            assert "free" in firing.inner_text()
            row = page.locator('[data-testid=alert-rule][data-name="disk-needs-a-petabyte"]')
            assert row.get_attribute("data-state") == "firing"
            page.screenshot(path=str(tmp_path / "firing.png"))

            # Replaced by one far below what is free: the firing one resolves on the way out
            # (events.jsonl below), the banner goes, and the new rule does not fire.
            request = urllib.request.Request(
                f"http://127.0.0.1:{api_port}/api/alerts/rules/disk-needs-a-petabyte",
                data=json.dumps({**rule, "threshold": 1.0}).encode(),
                method="PUT",
                headers={"Content-Type": "application/json"},
            )
            urllib.request.urlopen(request, timeout=5).close()
            firing.wait_for(state="detached", timeout=10_000)
            page.wait_for_function(
                """() => document.querySelector(
                    '[data-testid=alert-rule][data-name="disk-needs-a-petabyte"]'
                )?.dataset.state === 'inactive'""",
                timeout=10_000,
            )
            browser.close()
        demo.interrupt()
        assert demo.process.wait(30) == 0
        demo.drain()
        events = [
            json.loads(line)
            for path in (tmp_path / "runs").rglob("events.jsonl")
            for line in path.read_text().splitlines()
        ]
        states = [e.get("state") for e in events if e.get("event") == "alert"]
        assert states[:2] == ["firing", "resolved"], states
    finally:
        demo.kill_everything()

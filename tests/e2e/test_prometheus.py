"""A real Prometheus (Debian's package) scrapes a real run_demo.py; alerts reach the run's record.

Prometheus runs on a free port with a config and a database of its own in a temporary folder,
scraping the demo's /metrics every second; a PromQL query over its HTTP API must show the env
steps going up. On the same run an alert rule added over HTTP fires, and the training process
records it: an ``alert`` line in events.jsonl, and ``townlet status`` lists it as firing.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.demo_process import (
    DemoProcess,
    alive,
    demo_args,
    descendants,
    free_port,
    write_tiny_config,
)
from townlet.registry.events import read_events

PROMETHEUS = Path("/usr/bin/prometheus")

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(
        not PROMETHEUS.exists(),
        reason="needs Debian's prometheus package (bash scripts/setup.sh --with-browser)",
    ),
]


def http_json(url: str, body: object = None, method: str = "GET") -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=5) as response:
        return json.loads(response.read())


def wait_until(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if result := condition():
                return result
        except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError):
            pass
        time.sleep(0.25)
    raise AssertionError(f"{what}: not within {timeout:g} s")


@contextmanager
def prometheus(folder: Path, target_port: int) -> Iterator[str]:
    """Prometheus on a free port scraping 127.0.0.1:target_port/metrics every second."""
    folder.mkdir(parents=True)
    config = folder / "prometheus.yml"
    config.write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "scrape_configs": [
                    {
                        "job_name": "townlet",
                        "static_configs": [{"targets": [f"127.0.0.1:{target_port}"]}],
                    }
                ],
            }
        )
    )
    port = free_port()
    log = (folder / "prometheus.log").open("w")
    process = subprocess.Popen(
        [
            str(PROMETHEUS),
            f"--config.file={config}",
            f"--storage.tsdb.path={folder / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log,
        stdin=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: urllib.request.urlopen(f"{url}/-/ready", timeout=2), 60, "ready")
        yield url
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)
        log.close()


def query(url: str, promql: str) -> list[dict[str, Any]]:
    answer = http_json(f"{url}/api/v1/query?" + urllib.parse.urlencode({"query": promql}))
    assert answer["status"] == "success", answer
    return answer["data"]["result"]


def test_prometheus_scrapes_a_running_demo_and_alerts_reach_the_record(tmp_path: Path) -> None:
    config = write_tiny_config(tmp_path)
    data = yaml.safe_load(config.read_text())
    data["alerts"] = {"evaluate_every_seconds": 0.5}  # the default rules, judged quickly
    config.write_text(yaml.safe_dump(data))
    runs, api_port = tmp_path / "runs", free_port()
    demo = DemoProcess(demo_args(config, runs, api_port, None))
    api = f"http://127.0.0.1:{api_port}"
    try:
        demo.wait_for_line(r"ready in", 120)
        run = http_json(f"{api}/api/runs")[0]
        with prometheus(tmp_path / "prometheus", api_port) as url:
            first = wait_until(lambda: query(url, "townlet_env_steps_total"), 30, "a first scrape")[
                0
            ]
            assert first["metric"]["run_id"] == run["id"]
            assert first["metric"]["job"] == "townlet"
            before = float(first["value"][1])
            later = wait_until(
                lambda: [
                    r
                    for r in query(url, "townlet_env_steps_total")
                    if float(r["value"][1]) > before
                ],
                30,
                "env steps going up",
            )
            assert float(later[0]["value"][1]) > before
            rate = wait_until(
                lambda: query(url, "rate(townlet_env_steps_total[5s]) > 0"), 30, "a rate"
            )
            assert float(rate[0]["value"][1]) > 0
            # The training process is measured from the live server's process.
            roles = {
                r["metric"]["process"] for r in query(url, "townlet_process_cpu_seconds_total")
            }
            assert roles == {"training", "server"}

        # An alert that fires at once: more free disk asked for than any disk has.
        rule = {"name": "disk_high", "kind": "disk_free", "threshold": 1e18, "severity": "info"}
        assert (
            http_json(f"{api}/api/alerts/rules", rule, "POST")["rules"][-1]["name"] == "disk_high"
        )
        events = runs / Path(run["run_dir"]).relative_to(runs) / "events.jsonl"
        fired = wait_until(
            lambda: [
                e
                for e in read_events(events)
                if e["event"] == "alert" and e["name"] == "disk_high" and e["state"] == "firing"
            ],
            15,
            "an alert event",
        )[0]
        assert fired["severity"] == "info" and fired["kind"] == "disk_free"

        def status() -> str:
            result = subprocess.run(
                [sys.executable, "-m", "townlet", "status", run["id"], "--runs-dir", str(runs)],
                capture_output=True,
                text=True,
                timeout=30,
            )
            return result.stdout

        said = wait_until(lambda: "disk_high (info)" in (s := status()) and s, 15, "status")
        assert "1 firing" in said
        children = descendants(demo.process.pid)
        demo.interrupt()
        assert demo.process.wait(60) == 0
        demo.drain()
        assert "none firing" in status()  # nothing evaluates alerts once the run has ended
        assert not [pid for pid in children if alive(pid)]
    finally:
        if demo.process.poll() is None:
            demo.kill_everything()

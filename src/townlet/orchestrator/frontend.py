"""The Vite dev server as a child process in its own process group.

Vite is started as ``node_modules/.bin/vite`` (``npx`` would leave an orphan behind) with
``--strictPort`` so a busy port fails loudly instead of silently moving. Every child runs under
``child_guard.py``, which ends the group if this process dies without stopping it (kill -9, OOM).
Stopping sends SIGTERM to the whole group, then SIGKILL after a timeout, so esbuild/rolldown
helpers go too.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

from townlet.orchestrator.process_group import end_group
from townlet.orchestrator.progress import advance_to, progress_bar

log = logging.getLogger("townlet.frontend")

CHILD_GUARD = Path(__file__).with_name("child_guard.py")

NODE_HINT = (
    "Node.js 20+ with npm is needed for the web page: install it from https://nodejs.org "
    "or your package manager (e.g. `apt-get install nodejs npm`)"
)


class FrontendError(RuntimeError):
    pass


def node_available() -> bool:
    return shutil.which("node") is not None and shutil.which("npm") is not None


def install_dependencies(frontend_dir: Path, stop: threading.Event) -> bool:
    """Run ``npm ci`` when node_modules is missing; False when stopped or failed."""
    if (frontend_dir / "node_modules" / ".bin" / "vite").exists():
        return True
    log.info("frontend/node_modules is missing: running `npm ci` once (this takes a minute)")
    packages = _locked_packages(frontend_dir)
    process = start_guarded(["npm", "ci", "--no-audit", "--no-fund"], cwd=frontend_dir)
    relay = _relay_output(process)
    with progress_bar(len(packages), 0, "pkg", "npm ci") as bar:
        while process.poll() is None:
            if stop.wait(0.2):
                end_group(process, 5.0, "frontend", log)
                relay.join(2.0)
                return False
            advance_to(bar, sum((frontend_dir / p / "package.json").exists() for p in packages))
    relay.join(2.0)
    if process.returncode != 0:
        log.error("`npm ci` failed (exit %d); see the lines above", process.returncode)
        return False
    return True


def _locked_packages(frontend_dir: Path) -> list[str]:
    """Folders ``npm ci`` will fill, from package-lock.json: the bar's known amount of work."""
    try:
        lock = json.loads((frontend_dir / "package-lock.json").read_text())
    except (OSError, ValueError):
        return []
    # Optional entries are mostly other platforms' native builds, which npm skips here.
    return [
        path
        for path, entry in lock.get("packages", {}).items()
        if path.startswith("node_modules/") and not entry.get("optional")
    ]


class FrontendProcess:
    def __init__(
        self,
        frontend_dir: Path,
        host: str,
        port: int,
        api_port: int,
        trainer_url: str | None = None,
        token: str | None = None,
        token_in_cookie: bool = False,
    ) -> None:
        """Vite on ``host:port``, proxying to ``trainer_url`` (default: our own live server
        on loopback at ``api_port``) and adding ``token`` to what it forwards, or, with
        ``token_in_cookie`` (a page other machines reach), leaving the token to the browser's
        cookie so that only someone who was given it gets in."""
        self.frontend_dir = frontend_dir
        self.host, self.port, self.api_port = host, port, api_port
        self.trainer_url = trainer_url or f"http://127.0.0.1:{api_port}"
        self.token = token
        self.token_in_cookie = token_in_cookie
        self.process: subprocess.Popen[str] | None = None
        self._relay: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/"

    def start(self) -> None:
        vite = self.frontend_dir / "node_modules" / ".bin" / "vite"
        environment = {
            **os.environ,
            "TOWNLET_API_PORT": str(self.api_port),
            "TOWNLET_TRAINER_URL": self.trainer_url,
        }
        environment.pop("TOWNLET_TOKEN", None)  # only the token this run was given
        environment.pop("TOWNLET_TOKEN_IN_COOKIE", None)
        if self.token is not None and self.token_in_cookie:
            environment["TOWNLET_TOKEN_IN_COOKIE"] = "1"
            # The origin our live server accepts for this page (cli.page_origins).
            environment["TOWNLET_PAGE_ORIGIN"] = f"http://127.0.0.1:{self.port}"
        elif self.token is not None:
            environment["TOWNLET_TOKEN"] = self.token
        self.process = start_guarded(
            [str(vite), "--port", str(self.port), "--strictPort", "--host", self.host],
            cwd=self.frontend_dir,
            env=environment,
        )
        self._relay = _relay_output(self.process)

    def wait_until_serving(self, stop: threading.Event, timeout: float = 60.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline and not stop.is_set():
            if self.process is None or self.process.poll() is not None:
                raise FrontendError(
                    f"Vite exited with code {self.process.returncode if self.process else '?'} "
                    f"before serving (is port {self.port} busy? pick another with --frontend-port)"
                )
            if _answers(self.url):
                return
            stop.wait(0.2)
        if not stop.is_set():
            raise FrontendError(f"Vite did not serve {self.url} within {timeout:.0f} s")

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, timeout: float = 5.0) -> None:
        if self.process is not None:
            end_group(self.process, timeout, "frontend", log)
        if self._relay is not None:
            self._relay.join(2.0)


def start_guarded(
    command: list[str], cwd: Path, env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    """Start ``command`` under the child guard, as the leader of a new process group.

    Its own group keeps the terminal's Ctrl+C away from it (we end it in order); the guard's
    stdin is a pipe only we write to, so our death, however it comes, ends the group too.
    """
    return subprocess.Popen(
        [sys.executable, "-I", str(CHILD_GUARD), "--", *command],
        cwd=cwd,
        env=env,
        stdin=subprocess.PIPE,  # never written: its end-of-file is the signal
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _relay_output(process: subprocess.Popen[str]) -> threading.Thread:
    def relay() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            if line.strip():
                log.info("%s", line.rstrip())

    thread = threading.Thread(target=relay, name="frontend-log", daemon=True)
    thread.start()
    return thread

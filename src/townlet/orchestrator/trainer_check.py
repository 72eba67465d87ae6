"""Is the trainer at a URL reachable, with our token and our protocol? One answer, in words.

The page side asks this once at start so the terminal says at once what the page's trainer
indicator will show (the page asks Vite the same question every second: frontend/
trainerStatus.ts gives the same kinds of error).
"""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass

from townlet.live.protocol import PROTOCOL_VERSION


@dataclass(frozen=True)
class TrainerCheck:
    ok: bool
    error: str | None  # refused, timed out, unreachable, bad token, unhealthy, bad answer,
    #                    wrong version
    detail: str | None
    protocol_version: int | None = None


def check_trainer(url: str, token: str | None, timeout: float = 2.0) -> TrainerCheck:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    request = urllib.request.Request(f"{url}/health", headers=headers)
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        if error.code == 401:
            return TrainerCheck(
                False,
                "bad token",
                "the trainer refused our token: pass the one it printed with --token or "
                "TOWNLET_TOKEN",
            )
        if error.code == 503:
            return TrainerCheck(False, "unhealthy", "the trainer answers, but live play fails")
        return TrainerCheck(False, "bad answer", f"HTTP {error.code} from {url}/health")
    except TimeoutError:
        return TrainerCheck(False, "timed out", f"no answer from {url} within {timeout:g} s")
    except urllib.error.URLError as error:
        reason = error.reason
        if isinstance(reason, ConnectionRefusedError):
            return TrainerCheck(
                False,
                "refused",
                f"connection refused: is run_demo.py running at {url}, and its port open in "
                "the firewall?",
            )
        if isinstance(reason, TimeoutError | socket.timeout):
            return TrainerCheck(False, "timed out", f"no answer from {url} within {timeout:g} s")
        return TrainerCheck(False, "unreachable", f"{url} is unreachable: {reason}")
    except OSError as error:
        return TrainerCheck(False, "unreachable", f"{url} is unreachable: {error}")
    try:
        version = json.loads(body).get("protocol_version")
    except (ValueError, AttributeError):
        return TrainerCheck(False, "bad answer", f"{url}/health did not answer JSON")
    if version != PROTOCOL_VERSION:
        return TrainerCheck(
            False,
            "wrong version",
            f"the trainer speaks protocol {version}, this side {PROTOCOL_VERSION}: run the "
            "same Townlet version on both machines",
            version if isinstance(version, int) else None,
        )
    return TrainerCheck(True, None, None, version)

"""Where things are served: the config's unified_server section, flags over it, the token."""

from __future__ import annotations

import http.server
import json
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.live import live_server, tiny_trainer
from tests.support.tiny import tiny_config
from townlet.config import config_from_dict, config_to_dict
from townlet.live.protocol import PROTOCOL_VERSION
from townlet.orchestrator.settings import SettingsError, resolve_settings
from townlet.orchestrator.trainer_check import check_trainer
from townlet.registry import config_digest

TOKEN = "a-token-given-by-the-user-0123"


def with_section(**section: object):
    data = config_to_dict(tiny_config())
    data["unified_server"] = section
    return config_from_dict(data, source="test")


def test_defaults_are_todays_all_local_demo() -> None:
    settings = resolve_settings(tiny_config(), environ={})
    assert (settings.host, settings.inference_port, settings.frontend_port) == (
        "127.0.0.1",
        8766,
        5173,
    )
    assert settings.token is None and not settings.page_only and settings.open_browser
    assert settings.api_url == "http://127.0.0.1:8766"


def test_the_config_section_is_read_and_flags_override_it() -> None:
    config = with_section(inference_port=9000, frontend_port=9001, open_browser=False)
    settings = resolve_settings(config, environ={})
    assert (settings.inference_port, settings.frontend_port, settings.open_browser) == (
        9000,
        9001,
        False,
    )
    settings = resolve_settings(config, port=9100, frontend_port=9101, environ={})
    assert (settings.inference_port, settings.frontend_port) == (9100, 9101)


def test_off_127_0_0_1_a_token_is_generated_unless_one_is_given() -> None:
    generated = resolve_settings(tiny_config(), host="0.0.0.0", environ={})
    assert generated.token_source == "generated" and generated.token is not None
    assert len(generated.token) >= 32
    again = resolve_settings(tiny_config(), host="0.0.0.0", environ={})
    assert again.token != generated.token, "a fresh token each start"
    from_env = resolve_settings(tiny_config(), host="10.0.0.5", environ={"TOWNLET_TOKEN": TOKEN})
    assert (from_env.token, from_env.token_source) == (TOKEN, "TOWNLET_TOKEN")
    flag = resolve_settings(
        tiny_config(), host="10.0.0.5", token="x" * 20, environ={"TOWNLET_TOKEN": TOKEN}
    )
    assert (flag.token, flag.token_source) == ("x" * 20, "--token")
    # On loopback a given token is still enforced.
    assert resolve_settings(tiny_config(), token=TOKEN, environ={}).token == TOKEN
    assert resolve_settings(tiny_config(), host="127.0.0.2", environ={}).token is not None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("gpu-box:8766", "is not a trainer address"),
        ("ftp://gpu-box:8766", "is not a trainer address"),
        ("http://gpu-box:notaport", "is not a trainer address"),
        ("http://gpu-box:8766/ws", "has more than http://HOST:PORT"),
        ("http://user@gpu-box:8766", "has more than http://HOST:PORT"),
    ],
)
def test_a_bad_trainer_url_says_what_to_write(url: str, problem: str) -> None:
    with pytest.raises(SettingsError, match=problem):
        resolve_settings(tiny_config(), trainer_url=url, environ={})


def test_a_short_token_is_refused() -> None:
    with pytest.raises(SettingsError, match="too short"):
        resolve_settings(tiny_config(), token="abc", environ={})


def test_page_only_keeps_the_trainer_url_and_generates_nothing() -> None:
    settings = resolve_settings(tiny_config(), trainer_url="http://gpu-box:8766/", environ={})
    assert settings.page_only and settings.api_url == "http://gpu-box:8766"
    assert settings.token is None


def test_where_a_run_is_served_is_not_part_of_its_identity() -> None:
    plain = config_to_dict(tiny_config())
    moved = {**plain, "unified_server": {"inference_port": 9999}}
    assert config_digest(plain) == config_digest(moved)


# ------------------------------------------------------------------ the trainer check
def test_the_trainer_check_names_each_failure(tmp_path: Path) -> None:
    trainer = tiny_trainer(tmp_path)
    with live_server(trainer, token=TOKEN) as server:
        url = f"http://127.0.0.1:{server.port}"
        ok = check_trainer(url, TOKEN)
        assert (ok.ok, ok.protocol_version) == (True, PROTOCOL_VERSION)
        bad = check_trainer(url, "not-the-token-at-all")
        assert (bad.ok, bad.error) == (False, "bad token")
        assert check_trainer(url, None).error == "bad token"
    refused = check_trainer(url, TOKEN)  # the port is closed now
    assert (refused.ok, refused.error) == (False, "refused")


@pytest.fixture
def other_version_trainer() -> Iterator[str]:
    """A server that answers /health like a Townlet of another protocol version."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"status": "ok", "protocol_version": PROTOCOL_VERSION + 1})
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body.encode())

        def log_message(self, *_: object) -> None:
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join()


def test_a_trainer_of_another_version_is_named(other_version_trainer: str) -> None:
    check = check_trainer(other_version_trainer, None)
    assert (check.ok, check.error) == (False, "wrong version")
    assert f"protocol {PROTOCOL_VERSION + 1}" in (check.detail or "")


def test_a_silent_trainer_times_out() -> None:
    with socket.socket() as silent:  # listens, never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        check = check_trainer(f"http://127.0.0.1:{silent.getsockname()[1]}", None, timeout=0.5)
    assert (check.ok, check.error) == (False, "timed out")

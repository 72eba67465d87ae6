"""Where things are served, one answer for both sides: the config's ``unified_server:`` section,
overridden by command-line flags, plus the token.

The trainer side serves the live server on ``host:inference_port``; the page side serves Vite
on ``frontend_port`` and proxies to ``trainer_url`` (its own live server when that is unset).
Anywhere but 127.0.0.1 (or localhost, ::1) the live server may be reachable by other machines
or users, so a token is then required: ``--token``, else ``TOWNLET_TOKEN``, else one generated
at start. On loopback no token is needed, but one given is enforced.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from dataclasses import dataclass
from urllib.parse import urlsplit

from townlet.config import TownletConfig

TOKEN_VARIABLE = "TOWNLET_TOKEN"
DEFAULT_HOST = "127.0.0.1"
LOOPBACK_NAMES = frozenset({"127.0.0.1", "localhost", "::1"})


class SettingsError(ValueError):
    """A host, address or token that cannot be used; the message says what to do."""


@dataclass(frozen=True)
class ServerSettings:
    host: str
    inference_port: int
    frontend_port: int
    open_browser: bool
    health_check_timeout: float
    trainer_url: str | None  # set: this side serves only the page, for that trainer
    token: str | None  # in force when set
    token_source: str  # "--token", "TOWNLET_TOKEN", "generated" or "none"

    @property
    def page_only(self) -> bool:
        return self.trainer_url is not None

    @property
    def api_url(self) -> str:
        """The live server the page talks to (through Vite's proxy)."""
        if self.trainer_url is not None:
            return self.trainer_url
        return f"http://{_url_host(self.page_side_host)}:{self.inference_port}"

    @property
    def page_side_host(self) -> str:
        """How Vite, on this machine, reaches our own live server."""
        return DEFAULT_HOST if self.host in ("0.0.0.0", "::") else self.host


def resolve_settings(
    config: TownletConfig,
    *,
    host: str | None = None,
    port: int | None = None,
    frontend_port: int | None = None,
    no_browser: bool = False,
    trainer_url: str | None = None,
    token: str | None = None,
    environ: dict[str, str] | None = None,
) -> ServerSettings:
    """Flags (None: not given) over the config's section; SettingsError on bad values."""
    section = config.unified_server
    environment = os.environ if environ is None else environ
    chosen_host = host if host is not None else section.host
    chosen_url = trainer_url if trainer_url is not None else section.trainer_url
    if chosen_url is not None:
        chosen_url = check_trainer_url(chosen_url)
    if token is not None:
        chosen_token, source = token, "--token"
    elif environment.get(TOKEN_VARIABLE):
        chosen_token, source = environment[TOKEN_VARIABLE], TOKEN_VARIABLE
    elif chosen_url is None and chosen_host not in LOOPBACK_NAMES:
        chosen_token, source = secrets.token_urlsafe(24), "generated"
    else:
        chosen_token, source = None, "none"
    if chosen_token is not None and (len(chosen_token) < 16 or not chosen_token.isascii()):
        raise SettingsError(
            f"the token from {source} is too short or not plain ASCII: use at least 16 "
            "characters, e.g. the output of `python -c 'import secrets; "
            "print(secrets.token_urlsafe(24))'`"
        )
    return ServerSettings(
        host=chosen_host,
        inference_port=port if port is not None else section.inference_port,
        frontend_port=frontend_port if frontend_port is not None else section.frontend_port,
        open_browser=section.open_browser and not no_browser,
        health_check_timeout=section.health_check_timeout,
        trainer_url=chosen_url,
        token=chosen_token,
        token_source=source,
    )


def is_loopback(host: str) -> bool:
    """Only this machine can reach it (127.0.0.0/8, ::1, localhost)."""
    if host in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_trainer_url(url: str) -> str:
    """``http://gpu-box:8766`` as given, minus a trailing slash; SettingsError otherwise."""
    parts = urlsplit(url.strip())
    try:
        port = parts.port
    except ValueError:
        port = -1
    if parts.scheme not in ("http", "https") or not parts.hostname or port == -1:
        raise SettingsError(
            f"--trainer-url {url!r} is not a trainer address: write http://HOST:PORT, "
            "e.g. http://gpu-box:8766 (the trainer prints its addresses at start)"
        )
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise SettingsError(
            f"--trainer-url {url!r} has more than http://HOST:PORT: leave out paths, "
            "queries and user names (pass a token with --token or TOWNLET_TOKEN)"
        )
    return url.strip().rstrip("/")


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host else host

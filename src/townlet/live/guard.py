"""Refuses what a hostile web page could do through the user's own browser.

The live server listens on loopback, but any page the user visits can make the browser talk to
it. Two checks stop that, as a pure ASGI middleware in front of every route:

- Host (HTTP and WebSocket): the request must name a loopback host or the address it arrived on.
  A DNS-rebinding page reaches us under its own host name and is refused. Only the host name is
  compared, not the port: the attacker controls names, not ports, and an SSH tunnel may forward
  another local port to ours (Starlette's TrustedHostMiddleware also drops the port, but it
  cannot parse "[::1]:8766" and refuses WebSockets without a word in the log).
- Origin (WebSockets, and HTTP requests that change state): a browser names the page that sent
  the request; it must be one of the allowed page origins. Vite forwards the page's Origin
  unchanged, so the proxied path is checked the same way. No Origin means no browser (a
  script), which is allowed; the opaque origin "null" (sandboxed frames, file: pages) is not.

Off loopback a third check comes first: the token (orchestrator/settings.py). Every request
and WebSocket must carry it, as ``Authorization: Bearer TOKEN``, ``?token=TOKEN`` (for
WebSocket clients that cannot set headers) or the ``townlet_token`` cookie (the page's, when
Vite serves it to other machines); it is compared in constant time. A missing or wrong token
gets 401 (a WebSocket is refused at the handshake). With a token in force the Host check is
off: a rebinding page has no token, and a trainer is rightly reached as ``gpu-box:8766``.

A refusal is one log line: WARNING the first time a value is seen, DEBUG after that, so a page
that retries in a loop cannot flood the console.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Iterable
from http.cookies import CookieError, SimpleCookie
from urllib.parse import parse_qs, urlsplit

from starlette.responses import JSONResponse, PlainTextResponse
from starlette.types import ASGIApp, Receive, Scope, Send

log = logging.getLogger("townlet.inference")

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
_DEFAULT_PORTS = {"http": 80, "https": 443}
_REMEMBERED = 256  # refusals remembered for log de-duplication; bounded against floods


def normalize_origin(origin: str) -> str:
    """``HTTP://LocalHost:80`` -> ``http://localhost``: the form browsers send in Origin."""
    parts = urlsplit(origin.strip())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        raise ValueError(f"{origin!r} is not an http(s) origin")
    if parts.path not in ("", "/") or parts.query or parts.fragment or parts.username:
        raise ValueError(f"{origin!r} has more than scheme://host[:port]")
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    port = parts.port
    suffix = "" if port is None or port == _DEFAULT_PORTS[parts.scheme] else f":{port}"
    return f"{parts.scheme}://{host}{suffix}"


def _host_name(host: str) -> str | None:
    """The name in a Host header ("[::1]:8766" -> "::1"), or None if it is not one."""
    try:
        parts = urlsplit(f"//{host}")
        parts.port  # noqa: B018 - raises ValueError on a malformed port
    except ValueError:
        return None
    return parts.hostname


_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
TOKEN_COOKIE = "townlet_token"
_NEEDS_TOKEN = json.dumps(
    {"error": "this trainer needs its token: send Authorization: Bearer TOKEN or ?token=TOKEN"}
).encode()


def presented_token(scope: Scope) -> str | None:
    """The token a request carries: bearer header, then ?token=, then the cookie."""
    headers = {name: value.decode("latin-1") for name, value in scope["headers"]}
    scheme, _, value = headers.get(b"authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    query = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    if query.get("token"):
        return query["token"][0]
    cookie_header = headers.get(b"cookie")
    if cookie_header:
        try:
            cookies = SimpleCookie(cookie_header)
        except CookieError:
            return None
        if TOKEN_COOKIE in cookies:
            return cookies[TOKEN_COOKIE].value
    return None


def token_matches(presented: str | None, expected: str) -> bool:
    """Constant time in the token's content: no byte-by-byte timing to guess it from."""
    if presented is None:
        return False
    return hmac.compare_digest(presented.encode("utf-8", "replace"), expected.encode())


class RequestGuard:
    """ASGI middleware: refuse foreign Host headers and WebSockets from foreign pages."""

    def __init__(
        self, app: ASGIApp, allowed_origins: Iterable[str], token: str | None = None
    ) -> None:
        self.app = app
        self.allowed_origins = frozenset(normalize_origin(o) for o in allowed_origins)
        self.token = token
        self._reported: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        hosts = [value.decode("latin-1") for name, value in scope["headers"] if name == b"host"]
        host = hosts[0] if len(hosts) == 1 else None  # none, or two that disagree: refuse
        origin = next(
            (value.decode("latin-1") for name, value in scope["headers"] if name == b"origin"),
            None,
        )
        if self.token is not None:
            presented = presented_token(scope)
            if not token_matches(presented, self.token):
                client = scope.get("client")
                self._report(
                    "token from",
                    client[0] if client else None,
                    "no token" if presented is None else "a wrong token",
                )
                await self._refuse(scope, receive, send, "Unauthorized")
                return
        elif not self._host_allowed(host, scope):
            self._report("host", host, "not a name this server answers to")
            await self._refuse(scope, receive, send, "Invalid Host header")
            return
        # Controls are POSTs: a foreign page must not drive them either (a browser always
        # sends Origin on a cross-site POST; scripts send none and are let through).
        changes_state = scope["type"] == "websocket" or scope.get("method") not in _SAFE_METHODS
        if changes_state and origin is not None and not self._origin_allowed(origin):
            self._report(
                "origin",
                origin,
                "not an allowed page origin (add it to live.allowed_origins to allow it)",
            )
            await self._refuse(scope, receive, send, "Origin not allowed")
            return
        await self.app(scope, receive, send)

    @staticmethod
    def _host_allowed(host: str | None, scope: Scope) -> bool:
        name = _host_name(host) if host else None
        if name is None:
            return False
        server = scope.get("server")
        return name in LOOPBACK_HOSTS or (server is not None and name == server[0])

    def _origin_allowed(self, origin: str) -> bool:
        try:
            return normalize_origin(origin) in self.allowed_origins
        except ValueError:  # "null", or anything else that is not an http(s) origin
            return False

    async def _refuse(self, scope: Scope, receive: Receive, send: Send, reason: str) -> None:
        unauthorized = reason == "Unauthorized"
        if scope["type"] == "websocket":
            if unauthorized and "websocket.http.response" in scope.get("extensions", {}):
                # The handshake answered with a real 401, so a client can tell why.
                await send(
                    {
                        "type": "websocket.http.response.start",
                        "status": 401,
                        "headers": [
                            (b"content-type", b"application/json"),
                            (b"www-authenticate", b'Bearer realm="townlet"'),
                        ],
                    }
                )
                await send({"type": "websocket.http.response.body", "body": _NEEDS_TOKEN})
                return
            # Closing before accepting makes the server answer the handshake with HTTP 403.
            await send({"type": "websocket.close", "code": 1008, "reason": reason})
        elif unauthorized:
            response = JSONResponse(
                json.loads(_NEEDS_TOKEN),
                status_code=401,
                headers={"WWW-Authenticate": 'Bearer realm="townlet"'},
            )
            await response(scope, receive, send)
        else:
            status = 403 if reason.startswith("Origin") else 400
            await PlainTextResponse(reason, status_code=status)(scope, receive, send)

    def _report(self, kind: str, value: str | None, why: str) -> None:
        key = f"{kind}={value}: {why}"
        level = logging.DEBUG
        if key not in self._reported and len(self._reported) < _REMEMBERED:
            self._reported.add(key)
            level = logging.WARNING
        log.log(level, "refused a request with %s %r: %s", kind, value, why)

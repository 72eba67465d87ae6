"""Client -> server frames: parsed defensively, every refusal explained in words.

Anything can arrive on the socket. The frame's size and nesting are bounded before
``json.loads`` runs (it recurses once per nesting level), non-finite and absurdly long numbers
are refused while parsing, and the result must match a strict model of a known type.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from townlet.live.protocol import CLIENT_MESSAGES, ClientMessage

MAX_MESSAGE_BYTES = 4096  # a set_speed is ~50 bytes
MAX_NESTING = 8  # a set_speed is 1 deep; json.loads's C recursion limit is ~1000
MAX_NUMBER_DIGITS = 40  # int("9" * 5000) raises; nothing we accept needs more than a few

_EXPECTED_TYPES = ", ".join(sorted(CLIENT_MESSAGES))
Body = TypeVar("Body", bound=BaseModel)


class ClientMessageError(ValueError):
    """A refused client message; ``str()`` is the explanation sent back to the client."""


def parse_client_frame(event: Mapping[str, object]) -> ClientMessage:
    """Turn one ASGI ``websocket.receive`` event into a client message, or explain why not."""
    text = event.get("text")
    if not isinstance(text, str):
        raise ClientMessageError("binary frames are not accepted: send JSON as a text frame")
    payload = _load(text)
    if not isinstance(payload, dict) or not isinstance(payload.get("type"), str):
        raise ClientMessageError('expected a JSON object with a string "type"')
    kind = payload["type"]
    model = CLIENT_MESSAGES.get(kind)
    if model is None:
        raise ClientMessageError(f"unknown message type {_quote(kind)}: expected {_EXPECTED_TYPES}")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise ClientMessageError(_describe(kind, model, error)) from None


def parse_body(raw: bytes, model: type[Body], kind: str) -> Body:
    """An HTTP request's JSON body as a strict ``model`` (a request with no WebSocket
    message, e.g. ``follow_trial``), bounded and explained as client frames are."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ClientMessageError("the body must be JSON text (UTF-8)") from None
    payload = _load(text)
    if not isinstance(payload, dict):
        raise ClientMessageError("the body must be a JSON object")
    try:
        return model.model_validate(payload)
    except ValidationError as error:
        raise ClientMessageError(_describe(kind, model, error)) from None


def _load(text: str) -> object:
    size = len(text.encode("utf-8", errors="surrogatepass"))
    if size > MAX_MESSAGE_BYTES:
        raise ClientMessageError(f"message too large ({size} bytes, limit {MAX_MESSAGE_BYTES})")
    if _nesting(text) > MAX_NESTING:
        raise ClientMessageError(f"message nested too deeply (limit {MAX_NESTING} levels)")
    try:
        return json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)
    except json.JSONDecodeError as error:
        raise ClientMessageError(f"not valid JSON: {error}") from None


def _nesting(text: str) -> int:
    """The deepest bracket nesting outside strings: a linear scan that cannot recurse."""
    depth = deepest = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest


def _refuse_constant(name: str) -> float:
    raise ClientMessageError(f"{name} is not a JSON number: send a finite number")


def _bounded_int(literal: str) -> int:
    digits = len(literal.lstrip("-"))
    if digits > MAX_NUMBER_DIGITS:
        raise ClientMessageError(f"number too long ({digits} digits, limit {MAX_NUMBER_DIGITS})")
    return int(literal)


def _quote(value: str, limit: int = 40) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


def _describe(kind: str, model: type[BaseModel], error: ValidationError) -> str:
    """The first problem, in the words a client author needs."""
    first = error.errors(include_url=False)[0]
    field = ".".join(str(part) for part in first["loc"])
    if first["type"] == "extra_forbidden":
        return f"{kind}: unexpected field {_quote(field)}"
    if first["type"] == "missing":
        return f"{kind}: missing field {_quote(field)}"
    info = model.model_fields.get(field)
    if info is not None and info.description:
        return f"{kind}: {field} {info.description}"
    return f"{kind}: {field}: {first['msg']}"

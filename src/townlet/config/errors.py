"""ConfigError and the translation of pydantic errors into 'file: path: problem: fix' lines."""

from __future__ import annotations

import types
import typing
from collections.abc import Sequence
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from townlet.config.models import FLOAT32_MAX, INT64_MAX


class ConfigError(ValueError):
    """A configuration that cannot be used. `issues` holds (path, problem, fix) triples."""

    def __init__(self, source: str, issues: Sequence[tuple[str, str, str]]) -> None:
        self.source = source
        self.issues = list(issues)
        lines = [_line(path, problem, fix) for path, problem, fix in self.issues]
        if len(lines) == 1:
            message = f"{source}: {lines[0]}"
        else:
            message = f"{source}: {len(lines)} problems:\n" + "\n".join(f"  - {x}" for x in lines)
        super().__init__(message)


def _line(path: str, problem: str, fix: str) -> str:
    head = f"{path}: {problem}" if path else problem
    return f"{head}: {fix}" if fix else head


def dotted_path(loc: Sequence[int | str]) -> str:
    """('world', 'affordances', 3, 'x') -> 'world.affordances[3].x'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _join(base: str, sub: str) -> str:
    if not base:
        return sub
    if not sub:
        return base
    return base + sub if sub.startswith("[") else f"{base}.{sub}"


def issues_from_validation(
    error: ValidationError, root: type[BaseModel]
) -> list[tuple[str, str, str]]:
    """Every pydantic error as (dotted path, problem, fix)."""
    issues: list[tuple[str, str, str]] = []
    for err in error.errors(include_url=False):
        loc = tuple(err["loc"])
        base = dotted_path(loc)
        if err["type"] == "townlet_issues":
            for sub, problem, fix in err["ctx"]["issues"]:
                issues.append((_join(base, sub), problem, fix))
            continue
        issues.append((base, *_describe(err, root, loc)))
    return issues


def _show(value: Any) -> str:
    """repr(value), with a huge integer cut short instead of filling the terminal."""
    text = repr(value)
    if isinstance(value, int) and len(text) > 24:
        return f"{text[:6]}...{text[-3:]} ({len(text.lstrip('-'))} digits)"
    return text


def _number_hint(value: str, kind: str) -> str:
    """How to write a number that YAML read as a string."""
    mantissa, e, exponent = value.lower().partition("e")
    if kind != "float_type" or not e:
        return " without quotes"
    try:
        float(value)
    except ValueError:
        return " without quotes"
    if not isinstance(yaml.safe_load(value), str):
        return " without quotes"  # YAML would read it as a number: it was quoted
    # PyYAML follows YAML 1.1: 1e-4 is text, 1.0e-4 (a dot, a signed exponent) a number.
    dotted = mantissa if "." in mantissa else f"{mantissa}.0"
    signed = exponent if exponent[:1] in ("+", "-") else f"+{exponent}"
    return f" such as {dotted}e{signed} (YAML reads {value} as text)"


def _describe(err: Any, root: type[BaseModel], loc: tuple[int | str, ...]) -> tuple[str, str]:
    kind: str = err["type"]
    value = err.get("input")
    ctx = err.get("ctx") or {}
    if kind == "finite_number":
        return f"value {value!r} is not a finite number", "write a finite number"
    if kind == "extra_forbidden":
        allowed = _allowed_keys(root, loc[:-1])
        hint = f" (allowed: {', '.join(allowed)})" if allowed else ""
        return f"unknown key '{loc[-1]}'", f"remove it or fix its spelling{hint}"
    if kind == "missing":
        return "required key is missing", "add it (see configs/level_1_full_observability.yaml)"
    if kind in ("float_type", "int_type", "bool_type", "string_type", "int_from_float"):
        wanted = {
            "float_type": "a number",
            "int_type": "a whole number",
            "int_from_float": "a whole number",
            "bool_type": "true or false",
            "string_type": "a string",
        }[kind]
        hint = _number_hint(value, kind) if isinstance(value, str) else ""
        return (
            f"expected {wanted}, got {_show(value)} ({type(value).__name__})",
            f"write {wanted}{hint}",
        )
    if kind in ("greater_than", "greater_than_equal", "less_than", "less_than_equal"):
        op = {
            "greater_than": ">",
            "greater_than_equal": ">=",
            "less_than": "<",
            "less_than_equal": "<=",
        }
        bound = next(iter(ctx.values()))
        if bound in (FLOAT32_MAX, -FLOAT32_MAX):
            return (
                f"value {_show(value)} is beyond the range of a 32-bit float",
                f"use a value {op[kind]} {bound:.3g}",
            )
        if bound == INT64_MAX:
            return (
                f"value {_show(value)} does not fit in a 64-bit integer",
                f"use a value {op[kind]} {bound:,}",
            )
        return f"value {_show(value)} is out of range", f"use a value {op[kind]} {bound}"
    if kind == "literal_error":
        return f"value {_show(value)} is not allowed", f"use one of {ctx.get('expected', '')}"
    if kind in ("too_short", "too_long"):
        return err["msg"].lower(), "fix the number of entries"
    if kind in ("dict_type", "model_type", "list_type", "tuple_type", "model_attributes_type"):
        return f"expected a {kind.split('_')[0]}, got {type(value).__name__}", "fix the structure"
    return err["msg"], "see configs/level_1_full_observability.yaml for a valid example"


def _allowed_keys(root: type[BaseModel], loc: tuple[int | str, ...]) -> list[str]:
    """Field names of the model found at `loc` under `root`, for 'did you mean' hints."""
    annotation: Any = root
    for part in loc:
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            field = annotation.model_fields.get(str(part))
            if field is None:
                return []
            annotation = field.annotation
            continue
        args = typing.get_args(annotation)
        if not args:
            return []
        annotation = args[-1]  # list[X] -> X, dict[str, X] -> X
    annotation = _unwrap(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return list(annotation.model_fields)
    return []


def _unwrap(annotation: Any) -> Any:
    """Strip Annotated[...] and Optional[...] to reach the model or container type."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is typing.Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            annotation = args[0]
        else:
            return annotation

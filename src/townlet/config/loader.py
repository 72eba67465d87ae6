"""Read a TownletConfig from YAML or from a plain dict (as saved inside checkpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from townlet.config.errors import ConfigError, issues_from_validation
from townlet.config.models import TownletConfig


def load_config(path: str | Path) -> TownletConfig:
    """Load and validate a config file; any problem raises ConfigError naming the file."""
    path = Path(path)
    source = str(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(source, [("", "file not found", "check the path")]) from None
    except OSError as exc:
        raise ConfigError(source, [("", f"cannot read file ({exc})", "check the path")]) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(source, [_not_utf8(raw, exc)]) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(
            source, [("", f"YAML syntax error at {where}{problem}", "fix the YAML syntax")]
        ) from None
    if not isinstance(data, dict):
        raise ConfigError(
            source,
            [
                (
                    "",
                    f"expected a mapping at the top level, got {type(data).__name__}",
                    "see configs/",
                )
            ],
        )
    data.setdefault("name", path.stem)
    return config_from_dict(data, source=source)


def _not_utf8(raw: bytes, exc: UnicodeDecodeError) -> tuple[str, str, str]:
    """Where the first byte that is not UTF-8 sits, so the user can find it in an editor."""
    line = raw.count(b"\n", 0, exc.start) + 1
    where = f"byte 0x{raw[exc.start]:02x} at position {exc.start}, line {line}"
    # Windows editors that save "Unicode" write UTF-16, which starts with a byte-order mark.
    utf16 = " (it looks like UTF-16)" if raw[:2] in (b"\xff\xfe", b"\xfe\xff") else ""
    return "", f"file is not UTF-8 text ({where}){utf16}", "save it as UTF-8"


def config_from_dict(data: dict[str, Any], source: str = "checkpoint") -> TownletConfig:
    """Validate a plain dict; `source` names where it came from in error messages."""
    try:
        return TownletConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(source, issues_from_validation(exc, TownletConfig)) from None


def config_to_dict(cfg: TownletConfig) -> dict[str, Any]:
    """Plain JSON-able dict that `config_from_dict` turns back into an equal config."""
    return cfg.model_dump(mode="json")

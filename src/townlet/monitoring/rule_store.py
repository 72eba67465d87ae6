"""The run's alert rules on disk (``<run folder>/alerts.json``), so edits outlive the process.

Rules edited over HTTP or from the page are written here at once (atomically); a run that
starts in, or resumes from, a folder holding this file uses its rules instead of the config's.
A file that does not read is named in a warning and the config's rules are used.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

from pydantic import BaseModel, ConfigDict, ValidationError

from townlet.config.models import AlertRule

log = logging.getLogger("townlet.inference")

RULES_FILE = "alerts.json"


class _RulesFile(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)
    rules: list[AlertRule]


def load_rules(run_dir: Path | None, configured: list[AlertRule]) -> list[AlertRule]:
    if run_dir is None:
        return list(configured)
    path = run_dir / RULES_FILE
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return list(configured)
    except OSError as error:
        log.warning("alert rules: cannot read %s (%s); using the config's", path, error)
        return list(configured)
    try:
        rules = _RulesFile.model_validate_json(text).rules
    except ValidationError as error:
        first = error.errors(include_url=False)[0]
        where = ".".join(str(part) for part in first["loc"])
        log.warning(
            "alert rules: %s does not read (%s: %s); using the config's: fix or delete it",
            path,
            where,
            first["msg"],
        )
        return list(configured)
    names = [rule.name for rule in rules]
    if len(set(names)) != len(names):
        log.warning("alert rules: %s names a rule twice; using the config's", path)
        return list(configured)
    log.info("alert rules from %s (edited during the run; the config's are not used)", path)
    return rules


def save_rules(run_dir: Path, rules: list[AlertRule]) -> None:
    """Write the rules atomically: a crash mid-write leaves the old file, never half a one."""
    path = run_dir / RULES_FILE
    temporary = path.with_suffix(".json.tmp")
    body = {"rules": [rule.model_dump(mode="json") for rule in rules]}
    temporary.write_text(json.dumps(body, indent=2) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def copy_rules(earlier: Path, run_dir: Path) -> None:
    """A resumed run in a new folder keeps the rules edited in the earlier one."""
    source = earlier / RULES_FILE
    if source.exists() and not (run_dir / RULES_FILE).exists():
        shutil.copyfile(source, run_dir / RULES_FILE)

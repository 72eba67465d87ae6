"""Alert rules evaluated as Prometheus evaluates them: inactive -> pending -> firing -> resolved.

A rule's condition is checked on every evaluation against one ``Observation`` (what the live
server knows then). True for less than ``for_seconds``: pending; longer: firing; false again
after firing: resolved (a pending alert whose condition clears just goes back to inactive).
Only the changes to firing and to resolved are news for people (events.jsonl, the registry,
the webhook); every change is news for the page.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

from pydantic import BaseModel

from townlet.config.models import AlertKind, AlertRule, AlertSeverity
from townlet.monitoring.system import GpuSample

AlertStateName = Literal["inactive", "pending", "firing", "resolved"]
THROUGHPUT_WINDOW_SECONDS = 300.0  # "its own median over the last 5 minutes"
THROUGHPUT_MIN_SAMPLES = 5  # too few samples make no median worth comparing with


class AlertState(BaseModel):
    """One rule's alert as the page, the API and the webhook see it."""

    name: str
    kind: AlertKind
    severity: AlertSeverity
    state: AlertStateName
    since: str | None  # ISO-8601 UTC of the last change of state; None: never active
    value: float | None  # what the rule measured last (None: nothing yet, or not finite)
    message: str


@dataclass(frozen=True)
class Observation:
    """Everything the rules look at, gathered once per evaluation."""

    now: float  # unix seconds
    td_loss: float | None = None  # the newest reported TD loss
    steps_per_second: float | None = None  # None: no training to measure
    checkpoint_age_seconds: float | None = None
    greedy_latest: float | None = None  # mean greedy survival of the newest evaluation
    greedy_best: float | None = None
    gpus: tuple[GpuSample, ...] = ()
    disk_free_bytes: int | None = None


@dataclass(frozen=True)
class Condition:
    active: bool
    value: float | None
    message: str


@dataclass
class _Track:
    state: AlertStateName = "inactive"
    since: float | None = None
    active_since: float | None = None
    value: float | None = None
    message: str = "not evaluated yet"


@dataclass(frozen=True)
class Transition:
    """A change of one alert's state; ``notable`` for firing and resolved."""

    alert: AlertState
    previous: AlertStateName

    @property
    def notable(self) -> bool:
        return self.alert.state in ("firing", "resolved")


class RuleError(Exception):
    """A rule edit that cannot be done; ``status`` is the HTTP status that says why."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class AlertEngine:
    rules: list[AlertRule]
    _tracks: dict[str, _Track] = field(default_factory=dict)
    _throughput: deque[tuple[float, float]] = field(default_factory=deque)

    # ------------------------------------------------------------ evaluation
    def evaluate(self, seen: Observation) -> list[Transition]:
        self._remember_throughput(seen)
        changes = []
        for rule in self.rules:
            track = self._tracks.setdefault(rule.name, _Track())
            if not rule.enabled:
                track.value, track.message = None, "disabled"
                continue
            condition = self._condition(rule, seen)
            track.value, track.message = condition.value, condition.message
            before = track.state
            if condition.active:
                if track.state in ("inactive", "resolved"):
                    track.active_since = seen.now
                    track.state = "pending"
                    track.since = seen.now
                held = seen.now - (track.active_since or seen.now)
                if track.state == "pending" and held >= rule.for_seconds:
                    track.state, track.since = "firing", seen.now
            else:
                track.active_since = None
                if track.state == "pending":
                    track.state, track.since = "inactive", seen.now
                elif track.state == "firing":
                    track.state, track.since = "resolved", seen.now
            if track.state != before:
                changes.append(Transition(self._state_of(rule, track), before))
        return changes

    def _remember_throughput(self, seen: Observation) -> None:
        window = self._throughput
        if seen.steps_per_second is not None and math.isfinite(seen.steps_per_second):
            window.append((seen.now, seen.steps_per_second))
        while window and window[0][0] < seen.now - THROUGHPUT_WINDOW_SECONDS:
            window.popleft()

    def _condition(self, rule: AlertRule, seen: Observation) -> Condition:
        threshold = rule.threshold
        match rule.kind:
            case "nan_loss":
                loss = seen.td_loss
                if loss is None:
                    return Condition(False, None, "no TD loss reported yet")
                if not math.isfinite(loss):
                    return Condition(True, loss, f"TD loss is {loss}: training has diverged")
                return Condition(False, loss, f"TD loss is finite ({loss:.4g})")
            case "throughput_drop":
                rate = seen.steps_per_second
                if rate is None:
                    return Condition(False, None, "no training in this process to measure")
                rates = [r for _, r in self._throughput]
                if len(rates) < THROUGHPUT_MIN_SAMPLES:
                    return Condition(False, rate, "too few samples yet for a 5-minute median")
                median = statistics.median(rates)
                floor = threshold * median
                if rate < floor:
                    return Condition(
                        True,
                        rate,
                        f"{rate:,.0f} env steps/s is below {threshold:g} x its 5-minute "
                        f"median ({median:,.0f})",
                    )
                return Condition(False, rate, f"{rate:,.0f} env steps/s (median {median:,.0f})")
            case "checkpoint_stale":
                age = seen.checkpoint_age_seconds
                if age is None:
                    return Condition(False, None, "no training running to write checkpoints")
                if age > threshold:
                    return Condition(
                        True, age, f"no new checkpoint for {age:,.0f} s (limit {threshold:g} s)"
                    )
                return Condition(False, age, f"newest checkpoint {age:,.0f} s old")
            case "greedy_drop":
                latest, best = seen.greedy_latest, seen.greedy_best
                if latest is None or best is None:
                    return Condition(False, None, "no greedy evaluation yet")
                floor = (1.0 - threshold) * best
                if latest < floor:
                    return Condition(
                        True,
                        latest,
                        f"greedy survival {latest:.1f} fell below {1.0 - threshold:g} x the "
                        f"run's best ({best:.1f})",
                    )
                return Condition(False, latest, f"greedy survival {latest:.1f} (best {best:.1f})")
            case "gpu_memory":
                if not seen.gpus:
                    return Condition(False, None, "no GPU")
                fullest = max(
                    seen.gpus, key=lambda g: g.memory_used_bytes / max(g.memory_total_bytes, 1)
                )
                share = fullest.memory_used_bytes / max(fullest.memory_total_bytes, 1)
                where = f"GPU {fullest.index} ({fullest.name})"
                if share > threshold:
                    return Condition(
                        True,
                        share,
                        f"{where} uses {share:.0%} of its memory (limit {threshold:.0%})",
                    )
                return Condition(False, share, f"{where} uses {share:.0%} of its memory")
            case "disk_free":
                free = seen.disk_free_bytes
                if free is None:
                    return Condition(False, None, "the run folder's disk was not measured")
                if free < threshold:
                    return Condition(
                        True,
                        float(free),
                        f"{_bytes(free)} free on the run folder's disk (limit {_bytes(threshold)})",
                    )
                return Condition(
                    False, float(free), f"{_bytes(free)} free on the run folder's disk"
                )
        raise AssertionError(f"unknown alert kind {rule.kind}")  # the models allow no other

    # ------------------------------------------------------------ what is
    def states(self) -> list[AlertState]:
        return [
            self._state_of(rule, self._tracks.setdefault(rule.name, _Track()))
            for rule in self.rules
        ]

    def firing(self) -> list[AlertState]:
        return [state for state in self.states() if state.state == "firing"]

    def _state_of(self, rule: AlertRule, track: _Track) -> AlertState:
        return AlertState(
            name=rule.name,
            kind=rule.kind,
            severity=rule.severity,
            state=track.state,
            since=iso_utc(track.since),
            # JSON has no NaN: a loss that is not finite is null here, and named in the message.
            value=track.value if track.value is not None and math.isfinite(track.value) else None,
            message=track.message,
        )

    # ------------------------------------------------------------ edits
    def add(self, rule: AlertRule) -> None:
        if any(r.name == rule.name for r in self.rules):
            raise RuleError(
                409,
                f"a rule named {rule.name!r} exists: PUT /api/alerts/rules/{rule.name} replaces it",
            )
        self.rules = [*self.rules, rule]

    def replace(self, name: str, rule: AlertRule) -> list[Transition]:
        index = self._index(name)
        if rule.name != name and any(r.name == rule.name for r in self.rules):
            raise RuleError(409, f"a rule named {rule.name!r} exists: pick another name")
        ended = self._end(name, "the rule was changed")
        self.rules = [*self.rules[:index], rule, *self.rules[index + 1 :]]
        return ended

    def remove(self, name: str) -> list[Transition]:
        index = self._index(name)
        ended = self._end(name, "the rule was removed")
        self.rules = [*self.rules[:index], *self.rules[index + 1 :]]
        return ended

    def _index(self, name: str) -> int:
        for index, rule in enumerate(self.rules):
            if rule.name == name:
                return index
        known = ", ".join(rule.name for rule in self.rules) or "none"
        raise RuleError(404, f"no rule named {name!r} (rules: {known})")

    def _end(self, name: str, why: str) -> list[Transition]:
        """Forget a rule's alert; a firing one is resolved on the way out, so nothing that
        listed it as firing (registry, webhook receivers) keeps it forever."""
        track = self._tracks.pop(name, None)
        rule = next(r for r in self.rules if r.name == name)
        if track is None or track.state != "firing":
            return []
        track.state, track.message = "resolved", why
        track.since = datetime.now(UTC).timestamp()
        return [Transition(self._state_of(rule, track), "firing")]


def iso_utc(stamp: float | None) -> str | None:
    if stamp is None:
        return None
    return (
        datetime.fromtimestamp(stamp, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def _bytes(count: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(count) < 1024 or unit == "TiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024
    return f"{count:,.1f} TiB"

"""Typed configuration models: one frozen pydantic model per YAML section.

Single values are checked by field constraints; rules that relate several fields (grid
bounds, meter names, cross-field training limits) live in `model_validator`s that report
every problem at once as `Issue`s with a path relative to the model, so the loader can
print the full dotted path, the problem and the fix.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

METER_NAMES: tuple[str, ...] = (
    "energy",
    "hygiene",
    "satiation",
    "money",
    "mood",
    "social",
    "health",
    "fitness",
)
# The money meter holds dollars / MONEY_SCALE (0.5 is $50), like every meter in [0, 1].
MONEY_SCALE = 100.0
# Death causes exist only for these two (see townlet.world.DeathCause).
TERMINAL_CAPABLE: tuple[str, ...] = ("energy", "health")

# The world keeps its numbers in float32 tensors, where anything larger turns into inf.
FLOAT32_MAX = 3.4028234663852886e38
# Counters, tick numbers and tensor indices are int64 in torch.
INT64_MAX = 2**63 - 1
# numpy's legacy seeding (np.random.seed) takes 0 .. 2**32 - 1 only.
SEED_MAX = 2**32 - 1

# Strict types: "0.5" (a string) or true (a bool) are errors, but an int is a valid float.
# Non-finite numbers (.inf, .nan) are refused by `allow_inf_nan=False` on `_Model`.
Real = Annotated[float, Field(ge=-FLOAT32_MAX, le=FLOAT32_MAX)]
NonNegFloat = Annotated[float, Field(ge=0.0, le=FLOAT32_MAX)]
PosFloat = Annotated[float, Field(gt=0.0, le=FLOAT32_MAX)]
UnitFloat = Annotated[float, Field(ge=0.0, le=1.0)]
PosInt = Annotated[int, Field(ge=1)]
NonNegInt = Annotated[int, Field(ge=0)]
# A tensor size, or a count compared with int64 tensors.
PosInt64 = Annotated[int, Field(ge=1, le=INT64_MAX)]

Issue = tuple[str, str, str]  # (path relative to the model, what is wrong, what to do)


def _raise_issues(issues: list[Issue]) -> None:
    """Hand cross-field problems to pydantic; the loader expands them into full paths."""
    if issues:
        summary = "; ".join(f"{path}: {problem}" for path, problem, _ in issues)
        raise PydanticCustomError(
            "townlet_issues", "{summary}", {"summary": summary, "issues": tuple(issues)}
        )


class _Model(BaseModel):
    # allow_inf_nan=False also covers floats inside dicts, lists and tuples (tested): an
    # infinite rate or drain would otherwise pass every range check and break the run later.
    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, allow_inf_nan=False)


# --------------------------------------------------------------------------- world


class MeterConfig(_Model):
    initial: UnitFloat
    drain: NonNegFloat
    terminal: bool = False


class HealthFitnessScaling(_Model):
    """Health drain is multiplied by `base + low_fitness * (1 - fitness)`."""

    base: NonNegFloat
    low_fitness: NonNegFloat


class CascadeConfig(_Model):
    source: str
    target: str
    strength: NonNegFloat


class AffordanceConfig(_Model):
    name: Annotated[str, Field(min_length=1)]
    x: int
    y: int
    cost: NonNegFloat  # dollars; the money meter holds dollars / MONEY_SCALE
    effects: dict[str, Real]
    ticks: PosInt64 = 1
    # [open, close) in hours; close < open wraps past midnight; [0, 24] is always open.
    hours: tuple[int, int] = Field(default=(0, 24), strict=False)


class WorldConfig(_Model):
    width: Annotated[int, Field(ge=2)]
    height: Annotated[int, Field(ge=2)]
    step_cap: PosInt64
    observability: Literal["full", "partial"] = "full"
    vision_window: PosInt = 5
    temporal: bool = False
    ticks_per_day: PosInt64 = 24
    start_hour: Annotated[float, Field(ge=0.0, lt=24.0)] = 8
    completion_bonus_fraction: UnitFloat = 0.25
    randomize_layout: bool = False
    meters: dict[str, MeterConfig]
    health_fitness_scaling: HealthFitnessScaling
    move_cost: dict[str, NonNegFloat]
    cascade_threshold: Annotated[float, Field(gt=0.0, le=1.0)]
    cascades: list[CascadeConfig]
    affordances: list[AffordanceConfig]

    @model_validator(mode="after")
    def _check(self) -> WorldConfig:
        _raise_issues(_world_issues(self))
        return self


def _unknown_meter(path: str, name: str) -> Issue:
    return (path, f"unknown meter '{name}'", f"use one of {', '.join(METER_NAMES)}")


def _world_issues(w: WorldConfig) -> list[Issue]:
    issues: list[Issue] = []
    names = set(w.meters)
    for name in METER_NAMES:
        if name not in names:
            issues.append((f"meters.{name}", "meter is missing", "define all 8 meters"))
    for name in w.meters:
        if name not in METER_NAMES:
            issues.append(_unknown_meter(f"meters.{name}", name))
        elif w.meters[name].terminal and name not in TERMINAL_CAPABLE:
            issues.append(
                (
                    f"meters.{name}.terminal",
                    f"meter '{name}' cannot be terminal",
                    f"only {' and '.join(TERMINAL_CAPABLE)} can end an episode",
                )
            )
    for name in w.move_cost:
        if name not in METER_NAMES:
            issues.append(_unknown_meter(f"move_cost.{name}", name))
    for i, c in enumerate(w.cascades):
        for field in ("source", "target"):
            value = getattr(c, field)
            if value not in METER_NAMES:
                issues.append(_unknown_meter(f"cascades[{i}].{field}", value))
    if w.vision_window % 2 == 0:
        issues.append(
            (
                "vision_window",
                f"vision window {w.vision_window} is even, so it has no centre cell",
                f"use an odd size such as {w.vision_window + 1}",
            )
        )
    cells = w.width * w.height
    if len(w.affordances) > cells:
        issues.append(
            (
                "affordances",
                f"{len(w.affordances)} affordances do not fit on {cells} cells",
                "enlarge the grid or remove affordances",
            )
        )
    seen_names: dict[str, int] = {}
    seen_cells: dict[tuple[int, int], str] = {}
    grid = f"{w.width}x{w.height}"
    for i, a in enumerate(w.affordances):
        here = f"affordances[{i}]"
        if a.name in seen_names:
            issues.append(
                (
                    f"{here}.name",
                    f"name '{a.name}' is used twice",
                    "give each affordance a unique name",
                )
            )
        seen_names[a.name] = i
        if not 0 <= a.x < w.width:
            issues.append(
                (
                    f"{here}.x",
                    f"affordance '{a.name}' at ({a.x}, {a.y}) is off the {grid} grid",
                    f"choose x in 0..{w.width - 1}",
                )
            )
        if not 0 <= a.y < w.height:
            issues.append(
                (
                    f"{here}.y",
                    f"affordance '{a.name}' at ({a.x}, {a.y}) is off the {grid} grid",
                    f"choose y in 0..{w.height - 1}",
                )
            )
        other = seen_cells.get((a.x, a.y))
        if other is not None:
            issues.append(
                (
                    here,
                    f"affordances '{other}' and '{a.name}' share the cell ({a.x}, {a.y})",
                    "move one of them to a free cell",
                )
            )
        seen_cells[(a.x, a.y)] = a.name
        for meter in a.effects:
            if meter not in METER_NAMES:
                issues.append(_unknown_meter(f"{here}.effects.{meter}", meter))
        start, end = a.hours
        for j, hour in enumerate(a.hours):
            if not 0 <= hour <= 24:
                issues.append(
                    (
                        f"{here}.hours[{j}]",
                        f"hour {hour} is outside the day",
                        "use hours in 0..24 ([0, 24] means always open)",
                    )
                )
        if start == end:
            issues.append(
                (
                    f"{here}.hours",
                    f"opening hours [{start}, {end}] are empty, so '{a.name}' never opens",
                    "use [open, close) with open != close, or [0, 24] for always",
                )
            )
    return issues


# --------------------------------------------------------------------------- reward


class RewardConfig(_Model):
    """Per-tick reward while alive; see DEMO_README.md for why `wellbeing` is the default.

    - wellbeing: mean over the meters of min(1, meter / cascade_threshold), in [0, 1]; a tick
      pays fully while no meter is low enough to cascade, less the lower they sit.
    - energy_x_health: energy * health.
    - constant: 1.
    """

    per_tick: Literal["wellbeing", "energy_x_health", "constant"] = "wellbeing"
    alive_bonus: Real = 0.0
    death_penalty: Real = 0.0  # added on the death tick; negative means a penalty


# --------------------------------------------------------------------------- training


class NetworkConfig(_Model):
    kind: Literal["mlp", "gru"] = "mlp"
    # gru: hidden_sizes[0] is the recurrent size, the rest a feed-forward head after it
    hidden_sizes: Annotated[list[PosInt], Field(min_length=1)] = [256, 256]
    dueling: bool = False  # separate state-value and advantage heads


class EpsilonConfig(_Model):
    start: UnitFloat = 1.0
    end: UnitFloat = 0.02
    decay_steps: NonNegInt = 300_000

    @model_validator(mode="after")
    def _check(self) -> EpsilonConfig:
        if self.start < self.end:
            _raise_issues(
                [
                    (
                        "end",
                        f"epsilon end {self.end} is above start {self.start}",
                        "make start >= end (epsilon decays from start to end)",
                    )
                ]
            )
        return self


class RndConfig(_Model):
    enabled: bool = False
    coefficient: NonNegFloat = 0.1
    learning_rate: PosFloat = 0.0001
    anneal_survival: NonNegFloat = 400  # ticks of mean survival at which RND is fully off


class CurriculumStage(_Model):
    drain_scale: PosFloat = 1.0
    sparse_reward: bool = False


def _default_stages() -> list[CurriculumStage]:
    return [
        CurriculumStage(drain_scale=0.2),
        CurriculumStage(drain_scale=0.5),
        CurriculumStage(drain_scale=0.8),
        CurriculumStage(drain_scale=1.0),
        CurriculumStage(drain_scale=1.0, sparse_reward=True),
    ]


class CurriculumConfig(_Model):
    enabled: bool = False
    window: PosInt64 = 200  # a deque's maxlen
    advance_survival: Annotated[float, Field(gt=0.0, le=1.0)] = 0.8
    retreat_survival: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.3
    stages: Annotated[list[CurriculumStage], Field(min_length=1)] = Field(
        default_factory=_default_stages
    )

    @model_validator(mode="after")
    def _check(self) -> CurriculumConfig:
        if self.retreat_survival >= self.advance_survival:
            _raise_issues(
                [
                    (
                        "retreat_survival",
                        f"retreat_survival {self.retreat_survival} is not below "
                        f"advance_survival {self.advance_survival}",
                        "make retreat_survival < advance_survival",
                    )
                ]
            )
        return self


class TrainingConfig(_Model):
    device: Literal["auto", "cpu", "cuda"] = "auto"
    # torch starts this many OS threads: a million crashed it, and past the core count more
    # threads only slow training down.
    torch_threads: Annotated[int, Field(ge=1, le=1024)] = 1
    num_envs: PosInt64 = 256
    total_episodes: PosInt | None = None  # None: train until stopped
    network: NetworkConfig = Field(default_factory=NetworkConfig)
    learning_rate: PosFloat = 0.0005
    # Linear decay to learning_rate_end over learning_rate_decay_steps env steps (0: constant).
    learning_rate_end: PosFloat | None = None
    learning_rate_decay_steps: NonNegInt = 0
    gamma: Annotated[float, Field(gt=0.0, le=1.0)] = 0.99
    n_step: PosInt = 1
    batch_size: PosInt64 = 256
    replay_capacity: PosInt64 = 100_000
    save_replay: bool = False
    learning_starts: NonNegInt = 2000
    updates_per_step: PosFloat = 0.25
    target_update_interval: PosInt = 500
    # Above 0: the target network instead moves this share of the way to the online weights
    # after every update (Polyak averaging), and target_update_interval is unused.
    target_update_tau: Annotated[float, Field(ge=0.0, le=1.0)] = 0.0
    # The policy a checkpoint holds (what live play and evaluation play) is a moving average
    # of the online weights with this decay per gradient update; 0 plays the online weights.
    # See benchmarks/results/collapse_diagnosis.md for why.
    policy_average_decay: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    # True: that decay holds at the first learning rate, and each update's share of the
    # average shrinks with the learning rate (1 - decay) * lr / learning_rate, so the average
    # spans as much weight movement once updates are small as it did at the start.
    policy_average_follows_learning_rate: bool = False
    double_dqn: bool = True
    # Advantage learning: each target is lowered by this share of how far the taken action
    # falls below the best one (by the target network), which widens the gaps between
    # actions. 0 is plain Q-learning.
    advantage_learning: Annotated[float, Field(ge=0.0, lt=1.0)] = 0.0
    huber_delta: PosFloat = 1.0
    max_grad_norm: PosFloat = 10.0
    sequence_length: PosInt = 16
    burn_in: NonNegInt = 4
    epsilon: EpsilonConfig = Field(default_factory=EpsilonConfig)
    rnd: RndConfig = Field(default_factory=RndConfig)
    curriculum: CurriculumConfig = Field(default_factory=CurriculumConfig)

    @model_validator(mode="after")
    def _check(self) -> TrainingConfig:
        issues: list[Issue] = []
        if self.replay_capacity < self.batch_size:
            issues.append(
                (
                    "replay_capacity",
                    f"replay_capacity {self.replay_capacity} is below batch_size {self.batch_size}",
                    "make replay_capacity >= batch_size",
                )
            )
        if self.burn_in >= self.sequence_length:
            issues.append(
                (
                    "burn_in",
                    f"burn_in {self.burn_in} leaves no trained steps in a sequence of "
                    f"{self.sequence_length}",
                    "make burn_in < sequence_length",
                )
            )
        _raise_issues(issues)
        return self


# --------------------------------------------------------------------------- runtime


class CheckpointConfig(_Model):
    every_episodes: PosInt = 1000
    every_seconds: PosFloat = 30.0
    keep_last: PosInt = 5


# The live pace's range, for the config and for viewers' set_speed alike (live/protocol.py).
MIN_STEPS_PER_SECOND = 0.5
MAX_STEPS_PER_SECOND = 60.0


class LiveConfig(_Model):
    steps_per_second: Annotated[float, Field(ge=MIN_STEPS_PER_SECOND, le=MAX_STEPS_PER_SECOND)] = (
        5.0
    )
    poll_seconds: PosFloat = 0.5
    # Web pages, besides the one run_demo.py serves, that may open the live WebSocket: origins
    # as browsers send them, scheme://host[:port] (e.g. http://127.0.0.1:5173).
    allowed_origins: list[str] = Field(default_factory=list)
    # FastAPI's /docs, /redoc and /openapi.json; off because no viewer needs them.
    api_docs: bool = False

    @model_validator(mode="after")
    def _check(self) -> LiveConfig:
        _raise_issues(
            [
                (
                    f"allowed_origins[{index}]",
                    f"{origin!r} is not a web page origin",
                    "write scheme://host[:port] with nothing after it, e.g. http://127.0.0.1:5173",
                )
                for index, origin in enumerate(self.allowed_origins)
                if not self._is_origin(origin)
            ]
        )
        return self

    @staticmethod
    def _is_origin(text: str) -> bool:
        scheme, separator, authority = text.partition("://")
        if scheme not in ("http", "https") or not separator:
            return False
        host, colon, port = authority.rpartition(":")
        if not colon or host.count("[") != host.count("]") or authority.endswith("]"):
            host, port = authority, ""  # no port ("[::1]" has colons of its own)
        elif not (port.isdigit() and 0 < int(port) < 65536):
            return False
        if host.startswith("[") and host.endswith("]"):
            return len(host) > 2 and all(c in "0123456789abcdef:." for c in host[1:-1].lower())
        return bool(host) and all(c.isalnum() or c in "-." for c in host) and host.isascii()


class UnifiedServerConfig(_Model):
    """Where the live server and the page are served, for both sides of a split set-up.

    The trainer side reads ``host`` and ``inference_port``; the page side reads
    ``frontend_port`` and ``trainer_url`` (set: the page watches that trainer and nothing
    trains here). Command-line flags override each (orchestrator/settings.py). The token is
    never read from here: a config file is shared and committed, a token is a secret.
    """

    host: Annotated[str, Field(min_length=1)] = "127.0.0.1"
    inference_port: Annotated[int, Field(ge=1, le=65535)] = 8766
    frontend_port: Annotated[int, Field(ge=1, le=65535)] = 5173
    open_browser: bool = True
    health_check_timeout: PosFloat = 30.0
    trainer_url: str | None = None


class LoggingConfig(_Model):
    tensorboard_every_seconds: PosFloat = 1.0  # also the page's live chart points


class EvaluationConfig(_Model):
    """Every checkpoint played greedily, off the training process, into evaluations.jsonl.

    The same worlds every time (one fixed seed, apart from the training seeds), so points on
    the curve differ only by the policy. The orchestrator starts the evaluator when enabled.
    """

    enabled: bool = True
    worlds: Annotated[int, Field(ge=1, le=4096)] = 32
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = 900_001
    step_cap: PosInt64 | None = None  # None: the world's step_cap


# --------------------------------------------------------------------------- alerts

AlertKind = Literal[
    "nan_loss", "throughput_drop", "checkpoint_stale", "greedy_drop", "gpu_memory", "disk_free"
]
AlertSeverity = Literal["info", "warning", "critical"]
# What ``threshold`` means for each kind, and the range it must lie in (low, high, inclusive):
# the error a user gets for a bad one says which.
ALERT_THRESHOLDS: dict[str, tuple[str, float, float]] = {
    "nan_loss": ("unused (the rule fires on a NaN or infinite TD loss)", 0.0, FLOAT32_MAX),
    "throughput_drop": ("a fraction of the 5-minute median env steps/s, e.g. 0.5", 1e-9, 1.0),
    "checkpoint_stale": ("seconds without a new checkpoint, e.g. 600", 1e-9, FLOAT32_MAX),
    "greedy_drop": ("a fraction fallen from the run's best greedy survival, e.g. 0.3", 1e-9, 1.0),
    "gpu_memory": ("a fraction of a GPU's memory in use, e.g. 0.95", 1e-9, 1.0),
    "disk_free": ("free bytes on the run folder's disk, e.g. 1073741824", 0.0, FLOAT32_MAX),
}
ALERT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class AlertRule(_Model):
    """One alert rule; also the body of ``POST /api/alerts/rules`` (the same strict model)."""

    # Names travel in URLs (PUT /api/alerts/rules/{name}) and Prometheus labels.
    name: Annotated[str, Field(pattern=ALERT_NAME_PATTERN)]
    kind: AlertKind
    threshold: NonNegFloat = 0.0
    for_seconds: NonNegFloat = 0.0  # how long the condition must hold before it fires
    severity: AlertSeverity = "warning"
    enabled: bool = True

    @model_validator(mode="after")
    def _check(self) -> AlertRule:
        meaning, low, high = ALERT_THRESHOLDS[self.kind]
        if not low <= self.threshold <= high:
            if low > 0:
                span = "above 0 and at most 1" if high == 1.0 else "above 0"
            else:
                span = "of at least 0"
            _raise_issues(
                [
                    (
                        "threshold",
                        f"threshold {self.threshold:g} does not fit kind {self.kind}",
                        f"give {meaning}: a number {span}",
                    )
                ]
            )
        return self


def _default_alert_rules() -> list[AlertRule]:
    """On by default: each says something an operator would want to hear about."""
    return [
        AlertRule(name="nan_loss", kind="nan_loss", severity="critical"),
        AlertRule(name="throughput_drop", kind="throughput_drop", threshold=0.5, for_seconds=60.0),
        AlertRule(name="checkpoint_stale", kind="checkpoint_stale", threshold=600.0),
        # Greedy evaluations of a learning agent swing from one checkpoint to the next (early
        # on, below the do-nothing policy): only a fall that lasts five minutes is news.
        AlertRule(name="greedy_drop", kind="greedy_drop", threshold=0.3, for_seconds=300.0),
        AlertRule(name="gpu_memory", kind="gpu_memory", threshold=0.95, for_seconds=60.0),
        AlertRule(
            name="disk_free", kind="disk_free", threshold=float(1 << 30), severity="critical"
        ),
    ]


class AlertsConfig(_Model):
    """Alert rules, evaluated by the live server's process (never by the training loop).

    Rules edited over HTTP or from the page are kept in the run folder (``alerts.json``) and
    win over these on a resume; ``webhook_url`` and the pace always come from here.
    """

    rules: list[AlertRule] = Field(default_factory=_default_alert_rules)
    webhook_url: str | None = None  # each change to firing or resolved is POSTed here as JSON
    evaluate_every_seconds: Annotated[float, Field(ge=0.05, le=3600.0)] = 5.0

    @model_validator(mode="after")
    def _check(self) -> AlertsConfig:
        issues: list[Issue] = []
        seen: set[str] = set()
        for index, rule in enumerate(self.rules):
            if rule.name in seen:
                issues.append(
                    (f"rules[{index}].name", f"two rules are named {rule.name!r}", "rename one")
                )
            seen.add(rule.name)
        url = self.webhook_url
        if url is not None and not (url.startswith(("http://", "https://")) and len(url) > 8):
            issues.append(
                (
                    "webhook_url",
                    f"{url!r} is not an http(s) URL",
                    "write e.g. http://127.0.0.1:9000/hook, or null for no webhook",
                )
            )
        _raise_issues(issues)
        return self


class TownletConfig(_Model):
    """A whole run: the world, the reward, training and the runtime services."""

    name: Annotated[str, Field(min_length=1)] = "townlet"
    seed: Annotated[int, Field(ge=0, le=SEED_MAX)] = 0
    world: WorldConfig
    reward: RewardConfig = Field(default_factory=RewardConfig)
    training: TrainingConfig = Field(default_factory=TrainingConfig)
    checkpoint: CheckpointConfig = Field(default_factory=CheckpointConfig)
    live: LiveConfig = Field(default_factory=LiveConfig)
    logging: LoggingConfig = Field(default_factory=LoggingConfig)
    evaluation: EvaluationConfig = Field(default_factory=EvaluationConfig)
    unified_server: UnifiedServerConfig = Field(default_factory=UnifiedServerConfig)
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)

"""The WebSocket protocol: one typed model per message, sent as compact JSON.

Every message is a JSON object with a ``type``. DEMO_README.md documents these for other
clients; the frontend's ``src/protocol.ts`` mirrors them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from townlet.config.models import MAX_STEPS_PER_SECOND, MIN_STEPS_PER_SECOND, AlertRule
from townlet.monitoring.alerts import AlertState
from townlet.monitoring.system import SystemSample
from townlet.run_records import EvaluationPoint, MetricPoint


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)


class AffordancePlacement(BaseModel):
    name: str
    x: int
    y: int


class GridSize(BaseModel):
    width: int
    height: int


class MeterFact(BaseModel):
    name: str
    terminal: bool  # reaching 0 ends the episode
    cascade_source: bool  # below the cascade threshold it drags other meters down


class SpeedRange(BaseModel):
    min: float
    max: float


class EvaluationFacts(BaseModel):
    """How each checkpoint's greedy evaluation is run (the same seeds every time)."""

    worlds: int
    step_cap: int


class WorldFacts(BaseModel):
    """Everything the page needs to know about the world's rules: it keeps no copies."""

    meters: list[MeterFact]
    cascade_threshold: float
    money_scale: float  # dollars per unit of the money meter (money travels as dollars / scale)
    speed_range: SpeedRange
    history_length: int  # live episodes kept for the survival history
    evaluation: EvaluationFacts


# The WebSocket close code that says "the live view now plays another trial of the sweep":
# the page reconnects at once and is greeted by the new trial's session (private-use range).
FOLLOW_CLOSE_CODE = 4001

# Bumped whenever a message changes shape; the page compares it with its own (a page and a
# trainer from different Townlet versions say so instead of misreading each other).
PROTOCOL_VERSION = 1


class Hello(_Message):
    type: Literal["hello"] = "hello"
    protocol_version: int = PROTOCOL_VERSION
    config_name: str
    level: str
    grid: GridSize
    affordances: list[AffordancePlacement]
    meters: list[str]
    actions: list[str]
    steps_per_second: float
    step_cap: int
    temporal: bool
    observability: Literal["full", "partial"]
    vision_window: int
    world: WorldFacts
    tensorboard_url: str | None = None  # where TensorBoard serves this run, when started
    run_id: str | None = None  # the run's id in the registry (townlet status ID)
    run_name: str | None = None
    # Set when this run is a trial of a sweep (run_demo.py --runs): GET /api/sweep lists the
    # trials, and POST /api/sweep/follow picks which one the live view plays.
    sweep_id: str | None = None


class ModelLoaded(_Message):
    type: Literal["model_loaded"] = "model_loaded"
    checkpoint: str
    episode: int
    env_step: int
    saved_at: str
    untrained: bool


class WaitingForModel(_Message):
    type: Literal["waiting_for_model"] = "waiting_for_model"
    message: str


class EpisodeStart(_Message):
    type: Literal["episode_start"] = "episode_start"
    episode: int
    affordances: list[AffordancePlacement]


class State(_Message):
    """One tick of live play; q_values and action_mask are what the agent chose from."""

    type: Literal["state"] = "state"
    episode: int
    step: int
    x: int
    y: int
    meters: dict[str, float]
    action: str | None
    q_values: list[float]
    action_mask: list[bool]
    reward: float
    done: bool
    standing_on: str | None
    time_of_day: float | None
    interaction_progress: float | None


class EpisodeEnd(_Message):
    type: Literal["episode_end"] = "episode_end"
    episode: int
    steps: int
    return_: float = Field(serialization_alias="return")
    cause: Literal["energy", "health", "step_cap"]


class HistoryEpisode(BaseModel):
    episode: int
    steps: int
    return_: float = Field(serialization_alias="return")
    cause: Literal["energy", "health", "step_cap"]
    checkpoint: str


class History(_Message):
    """Sent on connect: earlier live episodes, oldest first, so a new page shows the trend."""

    type: Literal["history"] = "history"
    episodes: list[HistoryEpisode]


class TrainingStatus(_Message):
    type: Literal["training_status"] = "training_status"
    episode: int
    env_step: int
    epsilon: float
    steps_per_second: float
    recent_mean_survival: float | None  # epsilon-greedy training episodes, not greedy play
    running: bool
    paused: bool
    curriculum_stage: int | None
    latest_checkpoint: str | None


class MetricsHistory(_Message):
    """Sent on connect: the run's whole training history (a resumed run's earlier part too),
    downsampled to a bounded number of points, and every evaluation so far."""

    type: Literal["metrics_history"] = "metrics_history"
    points: list[MetricPoint]
    total_points: int  # how many points the history holds before downsampling
    evaluations: list[EvaluationPoint]


class Metrics(_Message):
    """New training points since the last message (about once a second)."""

    type: Literal["metrics"] = "metrics"
    points: list[MetricPoint]


class Evaluation(_Message):
    type: Literal["evaluation"] = "evaluation"
    evaluation: EvaluationPoint


class CheckpointEntry(BaseModel):
    name: str
    env_step: int
    episode: int
    milestone: bool  # never pruned: the first checkpoint past a power-of-two env step


class Checkpoints(_Message):
    """The run's kept checkpoints, oldest first, and what live play follows."""

    type: Literal["checkpoints"] = "checkpoints"
    items: list[CheckpointEntry]
    # "best": the best by held-out greedy evaluation (evaluation/best.py), the newest until
    # one is evaluated; "newest": each new checkpoint; "pinned": the one a viewer picked.
    follow: Literal["best", "newest", "pinned"]
    pinned: str | None
    playing: str | None
    best: str | None = None  # the best evaluated checkpoint still kept, if any
    best_survival: float | None = None  # its greedy mean survival, the figure it won on


class PlayStatus(_Message):
    """Live play's own controls, as every viewer should show them."""

    type: Literal["play_status"] = "play_status"
    paused: bool
    steps_per_second: float


class Ack(_Message):
    """Sent to the client whose control request was carried out."""

    type: Literal["ack"] = "ack"
    request: str
    message: str


class CompareSide(BaseModel):
    checkpoint: str
    env_step: int
    state: State


class CompareStarted(_Message):
    """Two worlds with the same seed and layout, one per checkpoint, played in lockstep."""

    type: Literal["compare_started"] = "compare_started"
    seed: int
    affordances: list[AffordancePlacement]
    left: ModelLoaded
    right: ModelLoaded


class CompareState(_Message):
    type: Literal["compare_state"] = "compare_state"
    step: int
    left: State
    right: State


class CompareStopped(_Message):
    type: Literal["compare_stopped"] = "compare_stopped"
    reason: str


class Alerts(_Message):
    """Sent on connect and whenever a rule or an alert's state changes: the whole picture
    (also the body of GET /api/alerts, without ``type``)."""

    type: Literal["alerts"] = "alerts"
    rules: list[AlertRule]
    alerts: list[AlertState]


class System(_Message):
    """The machine every 2 s: CPU and memory of training and the live server, each GPU."""

    type: Literal["system"] = "system"
    sample: SystemSample


class SystemHistory(_Message):
    """Sent on connect: the samples kept so far (the run's history.sqlite), oldest first."""

    type: Literal["system_history"] = "system_history"
    samples: list[SystemSample]


class ErrorReply(_Message):
    """Sent to one client whose message was refused, saying what was wrong with it."""

    type: Literal["error"] = "error"
    message: str
    request: str | None = None  # the refused request's type, when it was a known one


Message = (
    Hello
    | ModelLoaded
    | WaitingForModel
    | EpisodeStart
    | State
    | EpisodeEnd
    | History
    | TrainingStatus
    | ErrorReply
    | MetricsHistory
    | Metrics
    | Evaluation
    | Checkpoints
    | PlayStatus
    | Ack
    | CompareStarted
    | CompareState
    | CompareStopped
    | Alerts
    | System
    | SystemHistory
)


# ------------------------------------------------------------------ client -> server
# Strict: 10 and 10.5 are numbers, but true, "10", NaN and Infinity are not; unknown fields are
# errors. A field's description completes the error sent back: "<field> <description>".


class SetSpeed(BaseModel):
    """Client -> server: change the live play pace for everyone watching."""

    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)
    type: Literal["set_speed"]
    steps_per_second: float = Field(
        allow_inf_nan=False,
        description=(
            f"must be a finite number (the server clamps it to "
            f"{MIN_STEPS_PER_SECOND:g}..{MAX_STEPS_PER_SECOND:g} steps/s)"
        ),
    )


class _Control(BaseModel):
    model_config = ConfigDict(strict=True, extra="forbid", frozen=True)


class PauseTraining(_Control):
    """Stop training between steps and write a checkpoint; counters and curves continue."""

    type: Literal["pause_training"]


class ResumeTraining(_Control):
    type: Literal["resume_training"]


class PausePlay(_Control):
    type: Literal["pause_play"]


class ResumePlay(_Control):
    type: Literal["resume_play"]


class StepPlay(_Control):
    """One tick of live play while it is paused."""

    type: Literal["step_play"]


class PickCheckpoint(_Control):
    """Play a kept checkpoint of this run (by name), or (name null) follow the best or the
    newest as ``follow`` says."""

    type: Literal["pick_checkpoint"]
    name: str | None = Field(
        max_length=200, description="must be a checkpoint name from the run's list, or null"
    )
    follow: Literal["best", "newest"] = Field(
        default="newest", description='with name null: must be "best" or "newest"'
    )
    when: Literal["now", "next_episode"] = Field(
        default="next_episode", description='must be "now" or "next_episode"'
    )


class StartCompare(_Control):
    """Two checkpoints side by side; null picks the default (earliest milestone / newest)."""

    type: Literal["start_compare"]
    left: str | None = Field(default=None, max_length=200)
    right: str | None = Field(default=None, max_length=200)


class StopCompare(_Control):
    type: Literal["stop_compare"]


class FollowTrial(_Control):
    """HTTP only (``POST /api/sweep/follow``): which trial of the sweep the live view plays;
    "best" follows whichever trial is best, as the server does until a trial is picked."""

    run: str = Field(
        min_length=1, max_length=64, description='must be the run id of a trial, or "best"'
    )


ClientMessage = (
    SetSpeed
    | PauseTraining
    | ResumeTraining
    | PausePlay
    | ResumePlay
    | StepPlay
    | PickCheckpoint
    | StartCompare
    | StopCompare
)
# Keyed by `type`, so an unknown type is named in its error and the list of what is expected
# reads straight from here.
CLIENT_MESSAGES: dict[str, type[ClientMessage]] = {
    "set_speed": SetSpeed,
    "pause_training": PauseTraining,
    "resume_training": ResumeTraining,
    "pause_play": PausePlay,
    "resume_play": ResumePlay,
    "step_play": StepPlay,
    "pick_checkpoint": PickCheckpoint,
    "start_compare": StartCompare,
    "stop_compare": StopCompare,
}

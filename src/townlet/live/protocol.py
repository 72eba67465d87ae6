"""The WebSocket protocol: one typed model per message, sent as compact JSON.

Every message is a JSON object with a ``type``. DEMO_README.md documents these for other
clients; the frontend's ``src/protocol.ts`` mirrors them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from townlet.config.models import MAX_STEPS_PER_SECOND, MIN_STEPS_PER_SECOND


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


class Hello(_Message):
    type: Literal["hello"] = "hello"
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
    recent_mean_survival: float | None
    running: bool
    latest_checkpoint: str | None


class ErrorReply(_Message):
    """Sent to one client whose message was refused, saying what was wrong with it."""

    type: Literal["error"] = "error"
    message: str


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


ClientMessage = SetSpeed
# Keyed by `type`, so an unknown type is named in its error. (A pydantic discriminated union
# would do the same but needs two members; this reads the same and lists what is expected.)
CLIENT_MESSAGES: dict[str, type[ClientMessage]] = {"set_speed": SetSpeed}

"""The WebSocket protocol: one typed model per message, sent as compact JSON.

Every message is a JSON object with a ``type``. DEMO_README.md documents these for other
clients; the frontend's ``src/protocol.ts`` mirrors them.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


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


Message = (
    Hello
    | ModelLoaded
    | WaitingForModel
    | EpisodeStart
    | State
    | EpisodeEnd
    | History
    | TrainingStatus
)


class SetSpeed(BaseModel):
    """Client -> server: change the live play pace for everyone watching."""

    model_config = ConfigDict(extra="ignore")
    type: Literal["set_speed"]
    steps_per_second: float

"""What a run keeps about itself besides checkpoints: one record per line, in its folder.

``metrics.jsonl`` holds a ``MetricPoint`` per reporting window of training and
``evaluations.jsonl`` an ``EvaluationPoint`` per greedily evaluated checkpoint. The live server
sends both to the page as they are (protocol.py), so these models are also wire formats.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

__all__ = [
    "EvaluationPoint",
    "MetricPoint",
    "RecordLog",
    "RecordTail",
    "evaluation_log",
    "metrics_log",
]

log = logging.getLogger("townlet.records")

Record = TypeVar("Record", bound=BaseModel)

METRICS_FILE = "metrics.jsonl"
EVALUATIONS_FILE = "evaluations.jsonl"


class MetricPoint(BaseModel):
    """Training figures over one reporting window (about 1 s), at its last env step.

    ``training_survival`` and ``episode_return`` are means over the epsilon-greedy training
    episodes that ended in the window (None when none did): what the learner experiences,
    not what the greedy policy does (that is ``EvaluationPoint``).
    """

    env_step: int
    episode: int
    wall_time: float  # unix seconds
    training_survival: float | None
    episode_return: float | None
    td_loss: float | None
    epsilon: float
    learning_rate: float
    steps_per_second: float
    curriculum_stage: int | None


class EvaluationPoint(BaseModel):
    """One checkpoint played greedily on the fixed evaluation seeds (evaluations.jsonl)."""

    checkpoint: str
    env_step: int
    episode: int
    worlds: int
    step_cap: int
    mean_survival: float
    min_survival: int
    max_survival: int
    share_at_cap: float  # fraction of the worlds that reached the step cap
    causes: dict[str, int]  # "energy" / "health" / "step_cap" -> worlds that ended so
    wall_time: float  # unix seconds when the evaluation finished


class RecordLog(Generic[Record]):
    """A JSON-lines file of one record type, appended by one writer, read by many.

    A line is written with a single ``write`` of the whole line, so a reader sees either all of
    it or, after a crash mid-write, a torn last line without its newline: readers only take
    lines that end in a newline and skip (warning once) lines that do not parse.
    """

    def __init__(self, path: Path, model: type[Record]) -> None:
        self.path = path
        self.model = model
        self._warned = False

    def append(self, record: Record, *, durable: bool = False) -> None:
        """Add one record; ``durable`` waits until it is on disk (fsync). Raises OSError."""
        self.append_all([record], durable=durable)

    def append_all(self, records: list[Record], *, durable: bool = False) -> None:
        created = not self.path.exists()
        # NaN and infinities are written as such (JSON's NaN/Infinity extension, which every
        # reader here parses), not as null: a diverged TD loss must reach the nan_loss alert.
        # The page never sees them: protocol messages write them as null.
        text = "".join(
            to_json(record.model_dump(), inf_nan_mode="constants").decode() + "\n"
            for record in records
        )
        with self.path.open("ab+") as handle:
            # After a torn last line (a crash mid-write) start on a fresh line, so the new
            # record is not glued to the torn one; readers skip the torn line alone.
            if handle.seek(0, os.SEEK_END) > 0:
                handle.seek(-1, os.SEEK_END)
                if handle.read(1) != b"\n":
                    text = "\n" + text
            handle.write(text.encode("utf-8"))
            handle.flush()
            if durable:
                os.fsync(handle.fileno())
        if durable and created:
            _fsync_directory(self.path.parent)  # the new file's name is durable too

    def read_all(self) -> list[Record]:
        return RecordTail(self).read_new()

    def copy_up_to(self, target: Path, env_step: int) -> int:
        """Start ``target`` with this log's records up to ``env_step`` (a resumed run: its
        history continues from the checkpoint it resumes). Returns how many were copied."""
        records = [r for r in self.read_all() if getattr(r, "env_step", 0) <= env_step]
        if records:
            RecordLog(target, self.model).append_all(records)
        return len(records)

    def parse(self, line: bytes) -> Record | None:
        try:
            return self.model.model_validate_json(line)
        except ValidationError as error:
            if not self._warned:
                self._warned = True
                log.warning(
                    "skipping unreadable lines in %s (first: %s)",
                    self.path,
                    error.errors(include_url=False)[0]["msg"],
                )
            return None


class RecordTail(Generic[Record]):
    """Reads a ``RecordLog`` incrementally: each call returns the records added since."""

    def __init__(self, log_file: RecordLog[Record]) -> None:
        self.log_file = log_file
        self.offset = 0
        self._identity: tuple[int, int] | None = None

    def read_new(self) -> list[Record]:
        try:
            with self.log_file.path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                if identity != self._identity or stat.st_size < self.offset:
                    self._identity, self.offset = identity, 0  # a new or truncated file
                handle.seek(self.offset)
                data = handle.read()
        except FileNotFoundError:
            return []
        complete = data.rfind(b"\n") + 1  # a torn last line waits for its newline
        self.offset += complete
        records = []
        for line in data[:complete].splitlines():
            if line.strip() and (record := self.log_file.parse(line)) is not None:
                records.append(record)
        return records


def _fsync_directory(directory: Path) -> None:
    descriptor = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def metrics_log(run_dir: Path) -> RecordLog[MetricPoint]:
    return RecordLog(run_dir / METRICS_FILE, MetricPoint)


def evaluation_log(run_dir: Path) -> RecordLog[EvaluationPoint]:
    return RecordLog(run_dir / EVALUATIONS_FILE, EvaluationPoint)

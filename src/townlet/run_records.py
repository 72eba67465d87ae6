"""What a run keeps about itself besides checkpoints: one record per line, in its folder.

``metrics.jsonl`` holds a ``MetricPoint`` per reporting window of training and
``evaluations.jsonl`` an ``EvaluationPoint`` per greedily evaluated checkpoint. They are the
raw logs: the live server stores what it reads of them in the run's history.sqlite (live/
run_history.py) and sends them to the page as they are (protocol.py), so these models are also
wire formats.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Generic, NamedTuple, TypeVar

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json

__all__ = [
    "EvaluationPoint",
    "MetricPoint",
    "RecordLog",
    "RecordTail",
    "TailChunk",
    "TailPosition",
    "evaluation_log",
    "metrics_log",
    "record_json",
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
        text = "".join(record_json(record) + "\n" for record in records)
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


MARK_BYTES = 1024  # a whole line (metrics lines are about 250 bytes)


class TailPosition(NamedTuple):
    """Where a ``RecordTail`` stopped: the byte offset just past the last complete line it
    read, and that line's bytes (at most ``MARK_BYTES``), by which a later reader, in this
    process or the next, tells that the file there is still the one that was read."""

    offset: int
    mark: bytes


@dataclass(frozen=True)
class TailChunk(Generic[Record]):
    records: list[Record]
    started_over: bool  # the file was replaced or cut: these records are read from its start
    at_end: bool  # nothing more to read for now


class RecordTail(Generic[Record]):
    """Reads a ``RecordLog`` incrementally: each call returns the records added since.

    ``position`` can be kept and handed to a later tail (the live server keeps it in
    history.sqlite), which carries on from there if the file still holds the same line just
    before it, and starts over from the top if not (a file replaced, cut, or copied over).
    """

    def __init__(self, log_file: RecordLog[Record], position: TailPosition | None = None) -> None:
        self.log_file = log_file
        self.offset = position.offset if position is not None else 0
        self.mark = position.mark if position is not None else b""
        self._identity: tuple[int, int] | None = None

    @property
    def position(self) -> TailPosition:
        return TailPosition(self.offset, self.mark)

    def read_new(self) -> list[Record]:
        return self.read_chunk().records

    def read_chunk(self, max_bytes: int | None = None) -> TailChunk[Record]:
        """The complete lines added since, about ``max_bytes`` of them at most (so a long
        backlog can be taken a piece at a time, keeping the position after each)."""
        try:
            with self.log_file.path.open("rb") as handle:
                stat = os.fstat(handle.fileno())
                identity = (stat.st_dev, stat.st_ino)
                started_over = not self._continues(handle, identity, stat.st_size)
                if started_over:
                    self.offset, self.mark = 0, b""
                self._identity = identity
                handle.seek(self.offset)
                data = handle.read() if max_bytes is None else handle.read(max_bytes)
                if b"\n" not in data:
                    data += handle.readline()  # a line longer than max_bytes: take it whole
                at_end = handle.tell() >= stat.st_size
        except FileNotFoundError:
            return TailChunk([], False, True)
        complete = data.rfind(b"\n") + 1  # a torn last line waits for its newline
        if complete:
            line_start = data.rfind(b"\n", 0, complete - 1) + 1
            self.mark = data[max(line_start, complete - MARK_BYTES) : complete]
        self.offset += complete
        records = []
        for line in data[:complete].splitlines():
            if line.strip() and (record := self.log_file.parse(line)) is not None:
                records.append(record)
        return TailChunk(records, started_over, at_end)

    def _continues(self, handle: BinaryIO, identity: tuple[int, int], size: int) -> bool:
        """Whether the file is still the one read up to ``offset`` (nothing read: it is)."""
        if self.offset == 0:
            return True
        if self._identity is not None and identity != self._identity:
            return False  # replaced since the last read in this process
        if size < self.offset or not self.mark:
            return False
        handle.seek(self.offset - len(self.mark))
        return handle.read(len(self.mark)) == self.mark


def record_json(record: BaseModel) -> str:
    """One record as its line holds it, without the newline.

    NaN and infinities are written as such (JSON's NaN/Infinity extension, which every reader
    here parses), not as null: a diverged TD loss must reach the nan_loss alert. The page never
    sees them: protocol messages write them as null.
    """
    return to_json(record.model_dump(), inf_nan_mode="constants").decode()


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

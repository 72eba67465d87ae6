"""``evaluations.jsonl``: one ``EvaluationPoint`` per line, appended as each one is done.

The file format and its crash safety are ``RecordLog``'s (run_records.py); here is what is
particular to evaluations: every line is made durable, and a checkpoint is never listed twice.
"""

from __future__ import annotations

from pathlib import Path

from townlet.run_records import EvaluationPoint, RecordLog


def _log(path: Path) -> RecordLog[EvaluationPoint]:
    return RecordLog(path, EvaluationPoint)


def append_evaluation(path: Path, point: EvaluationPoint) -> None:
    """Append one line durably (fsynced); the file is created if missing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    _log(path).append(point, durable=True)


def read_evaluations(path: Path) -> list[EvaluationPoint]:
    """Every readable line, in file order; [] when the file does not exist."""
    return _log(path).read_all()


def copy_evaluations_up_to(source: Path, target: Path, env_step: int) -> int:
    """Carry a resumed run's history over: the lines of ``source`` with env_step <=
    ``env_step`` (the resumed checkpoint's) that ``target`` lacks. Returns how many."""
    present = {point.checkpoint for point in read_evaluations(target)}
    earlier = [
        point
        for point in read_evaluations(source)
        if point.env_step <= env_step and point.checkpoint not in present
    ]
    if earlier:
        target.parent.mkdir(parents=True, exist_ok=True)
        _log(target).append_all(earlier, durable=True)
    return len(earlier)

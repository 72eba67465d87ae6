"""The run's training figures and evaluations, as the page charts them.

Both come from the run folder (``metrics.jsonl`` written by the trainer, ``evaluations.jsonl``
by the evaluator process), not from the trainer's memory: one source for a page opened now, a
page opened after a reload, and a resumed run, whose folder starts with the part of its
history that its checkpoint continues.
"""

from __future__ import annotations

from pathlib import Path
from typing import TypeVar

from townlet.live.protocol import Evaluation, Metrics, MetricsHistory
from townlet.run_records import (
    EvaluationPoint,
    MetricPoint,
    RecordTail,
    evaluation_log,
    metrics_log,
)

# Points sent to a page that connects: enough for a smooth curve at any zoom a screen shows,
# few enough that a days-long run's history is one quick message (~150 bytes a point).
HISTORY_POINTS = 4000

Point = TypeVar("Point")


def downsample(points: list[Point], limit: int) -> list[Point]:
    """At most ``limit`` points, evenly spread over the run, always keeping the newest.

    Real samples are kept (not averages), so a value on the chart is one the trainer reported.
    """
    if len(points) <= limit:
        return list(points)
    if limit <= 1:
        return points[-limit:] if limit == 1 else []
    stride = (len(points) - 1) / (limit - 1)
    return [points[round(i * stride)] for i in range(limit)]


class RunHistory:
    """Follows one run folder's records; ``poll`` hands out what is new since the last call."""

    def __init__(self, run_dir: Path | None) -> None:
        self.points: list[MetricPoint] = []
        self.evaluations: list[EvaluationPoint] = []
        self._metrics = RecordTail(metrics_log(run_dir)) if run_dir is not None else None
        self._evaluations = RecordTail(evaluation_log(run_dir)) if run_dir is not None else None

    def poll(self) -> tuple[Metrics | None, list[Evaluation]]:
        """Read what the trainer and the evaluator added; the messages that announce it."""
        if self._metrics is None or self._evaluations is None:
            return None, []
        new_points = self._metrics.read_new()
        new_evaluations = self._evaluations.read_new()
        self.points += new_points
        self.evaluations += new_evaluations
        metrics = Metrics(points=new_points) if new_points else None
        return metrics, [Evaluation(evaluation=point) for point in new_evaluations]

    def history(self, limit: int | None = None) -> MetricsHistory:
        return MetricsHistory(
            points=downsample(self.points, HISTORY_POINTS if limit is None else limit),
            total_points=len(self.points),
            evaluations=list(self.evaluations),
        )

    def evaluation_of(self, checkpoint: str) -> EvaluationPoint | None:
        return next((e for e in reversed(self.evaluations) if e.checkpoint == checkpoint), None)

"""Which checkpoint is a run's best: the one definition the pin, the registry and the live view
all use.

Best is decided by the held-out greedy evaluation (evaluations.jsonl: fixed evaluation worlds,
never the training ones), never by training survival, which ε-greedy exploration and the
worlds' luck blur. Highest mean survival wins; between equal means, the larger share at the
cap, then the newer checkpoint (it trained longer for the same score). Chosen among many
noisy evaluations, the best's score flatters it a little; the live view says so by showing
the evaluation it was chosen on beside the episodes it plays.
"""

from __future__ import annotations

from collections.abc import Iterable

from townlet.checkpoints import CheckpointCatalog
from townlet.run_records import EvaluationPoint

BEST_PIN = "best"  # the catalog pin that keeps the best checkpoint from being pruned


def _rank(point: EvaluationPoint) -> tuple[float, float, int]:
    return (point.mean_survival, point.share_at_cap, point.env_step)


def better(candidate: EvaluationPoint, incumbent: EvaluationPoint | None) -> bool:
    return incumbent is None or _rank(candidate) > _rank(incumbent)


def best_of(points: Iterable[EvaluationPoint]) -> EvaluationPoint | None:
    best: EvaluationPoint | None = None
    for point in points:
        if better(point, best):
            best = point
    return best


class BestCheckpointPin:
    """Keeps the best evaluated checkpoint of a folder pinned in the trainer's catalog, so
    pruning (``checkpoint.keep_last``) never deletes it. Offered each evaluation as it lands
    (run_tracker.py); one whose file is already gone cannot be played, so it is passed over."""

    def __init__(self, catalog: CheckpointCatalog) -> None:
        self.catalog = catalog
        self.best: EvaluationPoint | None = None

    def offer(self, point: EvaluationPoint) -> None:
        if not better(point, self.best):
            return
        path = self.catalog.directory / point.checkpoint
        if not path.is_file():
            return
        self.best = point
        self.catalog.pin(BEST_PIN, path)

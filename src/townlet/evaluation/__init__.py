"""Greedy evaluation of every checkpoint on fixed worlds, off the training process.

``worker`` is the process that does it (``python -m townlet.evaluation.worker``); ``greedy``
plays one checkpoint; ``log`` reads and appends ``evaluations.jsonl``.
"""

from townlet.evaluation.greedy import evaluate_checkpoint, evaluation_step_cap
from townlet.evaluation.log import append_evaluation, copy_evaluations_up_to, read_evaluations

__all__ = [
    "append_evaluation",
    "copy_evaluations_up_to",
    "evaluate_checkpoint",
    "evaluation_step_cap",
    "read_evaluations",
]

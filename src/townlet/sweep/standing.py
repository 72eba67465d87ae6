"""Where a sweep's trials stand against each other while they train: which one is best, and
the mean learning curve across trials with its 95% confidence band.

Pure functions of what the trials wrote (their registry rows, ``metrics.jsonl`` and
``evaluations.jsonl``). The live server (live/sweep_view.py) calls them on every refresh;
nothing else decides which trial is best.
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

from townlet.sweep.stats import Interval, mean_interval

# A trial takes "best" from the one that holds it only when it does better by this much (and
# by at least BEST_MARGIN_STEPS steps of survival), so two close trials do not swap the live
# view back and forth with every noisy report.
BEST_MARGIN = 0.10
BEST_MARGIN_STEPS = 2.0
RECENT_REPORTS = 10  # "recent training survival": the mean of the last ten reports (~10 s)
BAND_POINTS = 60  # points of the common env-step grid the mean and its band are given on

Basis = Literal["greedy", "training"]
Curve = Sequence[tuple[int, float]]  # (env step, survival), env steps increasing


@dataclass(frozen=True)
class TrialScore:
    run_id: str
    greedy: float | None  # mean survival of the trial's latest greedy evaluation
    training: float | None  # its recent training survival (epsilon-greedy episodes)


@dataclass(frozen=True)
class BestTrial:
    run_id: str
    basis: Basis  # which figure decided
    score: float


def best_trial(scores: Sequence[TrialScore], holder: str | None = None) -> BestTrial | None:
    """The best trial: the highest latest greedy evaluation when any trial has one (greedy
    play on the fixed evaluation worlds is the honest measure), else the highest recent
    training survival; None while no trial has either.

    ``holder``: the trial that was best until now. It stays best unless another beats it by
    ``BEST_MARGIN`` (at least ``BEST_MARGIN_STEPS``); it loses at once if it has no figure on
    the basis in force (the first greedy evaluations arrived, and none is its own). Ties go to
    the trial listed first.
    """
    basis: Basis = "greedy" if any(s.greedy is not None for s in scores) else "training"
    scored = [
        (value, s.run_id)
        for s in scores
        if (value := s.greedy if basis == "greedy" else s.training) is not None
        and math.isfinite(value)
    ]
    if not scored:
        return None
    top_value, top_id = scored[0]
    for value, run_id in scored[1:]:
        if value > top_value:
            top_value, top_id = value, run_id
    held = next((value for value, run_id in scored if run_id == holder), None)
    if held is not None and top_value <= held + max(BEST_MARGIN * held, BEST_MARGIN_STEPS):
        return BestTrial(holder, basis, held)  # type: ignore[arg-type]  # held: holder scored
    return BestTrial(top_id, basis, top_value)


def recent_training_survival(curve: Curve) -> float | None:
    """The mean training survival of the last ``RECENT_REPORTS`` reports that had one."""
    recent = [value for _, value in curve[-RECENT_REPORTS:]]
    return sum(recent) / len(recent) if recent else None


@dataclass(frozen=True)
class BandPoint:
    env_step: int  # the middle of the stretch of env steps this point stands for
    interval: Interval  # n trials, their mean and 95% t-interval (none for a single trial)


def mean_band(curves: Sequence[Curve], points: int = BAND_POINTS) -> list[BandPoint]:
    """The trials' mean training survival and its 95% interval on one env-step grid.

    The span from the earliest report of any trial to the furthest any trial got is cut into
    ``points`` equal stretches. In each, a trial's value is the mean of its reports there (one
    report is a noisy mean of a second's episodes; the band is about how seeds differ, not
    about that noise), and only the trials with reports there count (``n``): a trial that has
    not got that far is left out rather than guessed.
    """
    usable = [curve for curve in curves if curve]
    if not usable:
        return []
    start = min(curve[0][0] for curve in usable)
    end = max(curve[-1][0] for curve in usable)
    count = max(points, 1) if end > start else 1
    width = (end - start) / count
    band = []
    for cell in range(count):
        low = start + cell * width
        values = []
        for curve in usable:
            first = bisect_left(curve, low, key=_step)
            # The last stretch keeps the furthest report; the others stop short of the next.
            if cell == count - 1:
                last = bisect_right(curve, end, key=_step)
            else:
                last = bisect_left(curve, low + width, key=_step)
            if last > first:
                values.append(sum(value for _, value in curve[first:last]) / (last - first))
        if values:
            band.append(BandPoint(round(low + width / 2), mean_interval(values)))
    return band


def _step(report: tuple[int, float]) -> int:
    return report[0]

"""Mean and 95% confidence interval across seeds, by Student's t (no SciPy needed).

With n seeds the interval is mean +- t(0.975, n - 1) * s / sqrt(n), s the sample standard
deviation. Few seeds give wide intervals on purpose: five DQN seeds of one config differ a lot.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

# t(0.975, df) for df = 1..30; beyond, the Cornish-Fisher expansion is within 1e-4.
_T_975 = (
    12.7062, 4.3027, 3.1824, 2.7764, 2.5706, 2.4469, 2.3646, 2.3060, 2.2622, 2.2281,
    2.2010, 2.1788, 2.1604, 2.1448, 2.1314, 2.1199, 2.1098, 2.1009, 2.0930, 2.0860,
    2.0796, 2.0739, 2.0687, 2.0639, 2.0595, 2.0555, 2.0518, 2.0484, 2.0452, 2.0423,
)  # fmt: skip
_Z_975 = 1.959964


def t_quantile_975(df: int) -> float:
    if df < 1:
        raise ValueError(f"degrees of freedom must be >= 1, got {df}")
    if df <= len(_T_975):
        return _T_975[df - 1]
    z = _Z_975
    return (
        z
        + (z**3 + z) / (4 * df)
        + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)
        + (3 * z**7 + 19 * z**5 + 17 * z**3 - 15 * z) / (384 * df**3)
    )


@dataclass(frozen=True)
class Interval:
    n: int
    mean: float
    low: float | None  # None with a single seed: no interval can be given
    high: float | None

    @property
    def half_width(self) -> float | None:
        return None if self.high is None else self.high - self.mean


def mean_interval(values: list[float]) -> Interval:
    """Mean and 95% t-interval of ``values`` (at least one)."""
    if not values:
        raise ValueError("no values")
    n = len(values)
    mean = sum(values) / n
    if n == 1:
        return Interval(1, mean, None, None)
    variance = sum((value - mean) ** 2 for value in values) / (n - 1)
    half = t_quantile_975(n - 1) * math.sqrt(variance / n)
    return Interval(n, mean, mean - half, mean + half)

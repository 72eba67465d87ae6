"""The sweep's learning curve as an SVG written by hand (no plotting library to install).

Greedy survival at the step cap against env steps (log scale), one line per setting: the mean
over seeds with its 95% interval as a band. Final checkpoints are left out: they sit at
different env steps for different seeds.
"""

from __future__ import annotations

import math
from html import escape

from townlet.sweep.results import Row, steps_text

WIDTH, HEIGHT = 720, 420
LEFT, RIGHT, TOP, BOTTOM = 64, 200, 40, 56
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")


def survival_svg(rows: list[Row], title: str) -> str:
    points = [row for row in rows if row.milestone is not None]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="14">{escape(title)}: greedy survival '
        "(mean, 95% CI over seeds)</text>",
    ]
    if not points:
        parts.append(
            f'<text x="{LEFT}" y="{HEIGHT // 2}">no trial reached an env-step milestone</text>'
        )
        return "\n".join([*parts, "</svg>"])
    cap = points[0].step_cap
    xs = [math.log10(row.milestone or 1) for row in points]
    x_low, x_high = min(xs), max(xs)
    if x_high - x_low < 1e-9:
        x_low, x_high = x_low - 0.5, x_high + 0.5
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x_at(steps: int) -> float:
        return LEFT + (math.log10(steps) - x_low) / (x_high - x_low) * plot_w

    def y_at(survival: float) -> float:
        return TOP + plot_h - max(0.0, min(survival, cap)) / cap * plot_h

    # Axes, with gridlines at every fifth of the cap and at each milestone.
    parts.append(
        f'<rect x="{LEFT}" y="{TOP}" width="{plot_w}" height="{plot_h}" fill="none" stroke="#888"/>'
    )
    for fifth in range(6):
        value = cap * fifth / 5
        y = y_at(value)
        parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + plot_w}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
        )
        parts.append(f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end">{value:.0f}</text>')
    for milestone in sorted({row.milestone for row in points if row.milestone}):
        x = x_at(milestone)
        parts.append(
            f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{TOP + plot_h}" stroke="#eee"/>'
        )
        parts.append(
            f'<text x="{x:.1f}" y="{TOP + plot_h + 16}" text-anchor="middle">'
            f"{steps_text(milestone)}</text>"
        )
    parts.append(
        f'<text x="{LEFT + plot_w / 2:.0f}" y="{HEIGHT - 14}" text-anchor="middle">'
        "env steps (log scale)</text>"
    )
    parts.append(
        f'<text x="16" y="{TOP + plot_h / 2:.0f}" text-anchor="middle" '
        f'transform="rotate(-90 16 {TOP + plot_h / 2:.0f})">survival (ticks, cap {cap})</text>'
    )
    settings = list(dict.fromkeys(row.setting for row in points))
    for number, setting in enumerate(settings):
        colour = COLOURS[number % len(COLOURS)]
        series = sorted(
            (row for row in points if row.setting == setting), key=lambda row: row.milestone or 0
        )
        upper = [
            (x_at(r.milestone or 1), y_at(r.survival.high))
            for r in series
            if r.survival.high is not None
        ]
        lower = [
            (x_at(r.milestone or 1), y_at(r.survival.low))
            for r in series
            if r.survival.low is not None
        ]
        if len(upper) >= 2:
            outline = upper + lower[::-1]
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in outline)
            parts.append(f'<polygon points="{path}" fill="{colour}" fill-opacity="0.15"/>')
        line = [(x_at(r.milestone or 1), y_at(r.survival.mean)) for r in series]
        if len(line) >= 2:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in line)
            parts.append(
                f'<polyline points="{path}" fill="none" stroke="{colour}" stroke-width="2"/>'
            )
        for (x, y), row in zip(line, series, strict=True):
            parts.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill="{colour}"/>')
            if row.survival.low is not None and row.survival.high is not None:
                parts.append(
                    f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y_at(row.survival.low):.1f}" '
                    f'y2="{y_at(row.survival.high):.1f}" stroke="{colour}"/>'
                )
        legend_y = TOP + 14 + 18 * number
        parts.append(
            f'<rect x="{WIDTH - RIGHT + 12}" y="{legend_y - 9}" width="12" height="12" '
            f'fill="{colour}"/>'
        )
        parts.append(
            f'<text x="{WIDTH - RIGHT + 30}" y="{legend_y + 1}">{escape(setting[:26])}</text>'
        )
    return "\n".join([*parts, "</svg>"])

"""The Sending statistics charts as inline SVG, and their table alternative.

Drawn on the server: no script, no external request, readable in any browser. Every hour
with mail gets a ``<circle data-t data-v>`` (a tooltip in its ``<title>``), the line joins
all hours, zeros included; the y axis starts at 0 and ends at a round maximum. Colours
come from the stylesheet (classes), so light and dark schemes apply.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime
from html import escape

WIDTH, HEIGHT = 720, 200
LEFT, RIGHT, TOP, BOTTOM = 52, 8, 10, 24  # margins, in viewBox units
Y_TICKS = 4


def nice_max(value: float) -> int:
    """The smallest of 1, 2, 2.5, 5 times a power of ten that is >= value (at least 4)."""
    if value <= 4:
        return 4
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if step * power >= value:
            return math.ceil(step * power)
    return int(10 * power)


def hour_text(hour: int) -> str:
    return datetime.fromtimestamp(hour, UTC).strftime("%Y-%m-%d %H:00")


def line_chart(series: str, title: str, points: Sequence[tuple[int, int]], days: int) -> str:
    """An SVG line chart of hourly counts (``points`` oldest first, one per hour)."""
    if not points:
        return ""
    top = nice_max(max(v for _, v in points))
    start, end = points[0][0], points[-1][0]
    span = max(end - start, 1)
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def x(t: int) -> float:
        return LEFT + (t - start) / span * plot_w

    def y(v: float) -> float:
        return TOP + plot_h - v / top * plot_h

    grid = []
    for i in range(Y_TICKS + 1):
        value = top * i / Y_TICKS
        gy = y(value)
        grid.append(
            f'<line class="grid" x1="{LEFT}" x2="{WIDTH - RIGHT}" y1="{gy:.1f}" y2="{gy:.1f}"/>'
            f'<text class="axis" x="{LEFT - 6}" y="{gy + 4:.1f}" text-anchor="end">'
            f"{value:g}</text>"
        )
    step = 86_400 if days > 1 else 6 * 3600  # a label per day, or every 6 hours on 1 day
    first_label = -(-start // step) * step
    for t in range(first_label, end + 1, step * (2 if days == 14 else 1)):
        label = datetime.fromtimestamp(t, UTC).strftime("%m-%d" if days > 1 else "%H:00")
        grid.append(
            f'<text class="axis" x="{x(t):.1f}" y="{HEIGHT - 6}" text-anchor="middle">'
            f"{label}</text>"
        )
    line = " ".join(f"{x(t):.1f},{y(v):.1f}" for t, v in points)
    circles = "".join(
        f'<circle data-t="{t}" data-v="{v}" cx="{x(t):.1f}" cy="{y(v):.1f}" r="2.5">'
        f"<title>{hour_text(t)} UTC: {v}</title></circle>"
        for t, v in points
        if v > 0
    )
    total = sum(v for _, v in points)
    label = escape(f"{title} per hour over {days} day{'s' if days > 1 else ''}: {total} in all")
    return (
        f'<svg class="chart" data-series="{escape(series)}" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'role="img" aria-label="{label}">'
        f"<title>{label}</title>{''.join(grid)}"
        f'<polyline class="line" points="{line}"/>{circles}</svg>'
    )


def chart_table(series: str, title: str, points: Sequence[tuple[int, int]]) -> str:
    """The chart's data as a table (hour, count), for screen readers and copying."""
    rows = "".join(f"<tr><td>{hour_text(t)}</td><td>{v}</td></tr>" for t, v in points)
    return (
        f"<details><summary>{escape(title)} as a table</summary>"
        f'<table class="chart-data" data-series="{escape(series)}">'
        f'<thead><tr><th scope="col">Hour (UTC)</th><th scope="col">{escape(title)}</th>'
        f"</tr></thead><tbody>{rows}</tbody></table></details>"
    )

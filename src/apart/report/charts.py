"""Line charts as inline SVG markup, drawn in Python: the report needs no script.

:func:`line_chart` returns a ``<figure>`` with a caption, an ``<svg>`` (axes,
ticks, grid, one ``<polyline>`` per series, a dot with a ``<title>`` tooltip
per point on short series) and a legend. Every name is escaped. The layout is
the dashboard's (``chart.js``), so a report looks like the run page.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from html import escape

PALETTE = (
    "#4f46e5", "#0891b2", "#d97706", "#dc2626", "#059669", "#9333ea", "#db2777", "#65a30d",
    "#0f766e", "#b45309", "#2563eb", "#be123c",
)
WIDTH = 520
HEIGHT = 230
BOOLEAN_HEIGHT = 130
LEFT, RIGHT, TOP, BOTTOM = 58, 18, 12, 40
#: series with at most this many points get a dot per point
MAX_DOTS = 60

Point = tuple[float, float]


@dataclass(frozen=True)
class Series:
    """One line: a name (the legend) and its (step, value) points, in step order."""

    name: str
    points: list[Point]


@dataclass(frozen=True)
class Scale:
    """An axis: the range shown and its ticks."""

    lo: float
    hi: float
    step: float
    ticks: list[float]


def nice_scale(low: float, high: float, count: int = 5, integer: bool = False) -> Scale:
    """Round ticks covering ``[low, high]`` (about ``count`` intervals)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return nice_scale(0, 1, count, integer)
    if low == high:
        pad = abs(low) * 0.1 or 1
        return nice_scale(low - pad, high + pad, count, integer)
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw))
    norm = raw / magnitude
    step = (1 if norm < 1.5 else 2 if norm < 3 else 5 if norm < 7 else 10) * magnitude
    if integer:
        step = max(1, round(step))
    lo = math.floor(low / step) * step
    hi = math.ceil(high / step) * step
    ticks = [lo + i * step for i in range(round((hi - lo) / step) + 1)]
    return Scale(lo, hi, step, ticks)


def tick_label(value: float, step: float) -> str:
    """``value`` with as many decimals as ``step`` needs."""
    decimals = max(0, min(6, -math.floor(math.log10(step) + 1e-9)))
    return f"{value:.{decimals}f}"


def _x_scale(steps: list[float]) -> Scale:
    first, last = min(steps), max(steps)
    if last == first:
        last = first + 1
    ticks = [t for t in nice_scale(first, last, 6, integer=True).ticks if first <= t <= last]
    return Scale(first, last, 1, ticks)


def _y_scale(values: list[float], boolean: bool) -> Scale:
    if boolean:
        return Scale(0, 1, 1, [0, 1])
    integers = all(float(v).is_integer() for v in values)
    return nice_scale(min(values), max(values), 4, integer=integers)


class _Plot:
    """Maps (step, value) to SVG coordinates."""

    def __init__(self, xs: Scale, ys: Scale, height: int) -> None:
        self.xs, self.ys, self.height = xs, ys, height
        self.width = WIDTH - LEFT - RIGHT
        self.plot_height = height - TOP - BOTTOM

    def x(self, value: float) -> float:
        return LEFT + (value - self.xs.lo) / (self.xs.hi - self.xs.lo) * self.width

    def y(self, value: float) -> float:
        return TOP + self.plot_height - (value - self.ys.lo) / (self.ys.hi - self.ys.lo) \
            * self.plot_height


def _n(value: float) -> str:
    return f"{value:.1f}"


def _axes(plot: _Plot, boolean: bool) -> list[str]:
    bottom = TOP + plot.plot_height
    out = []
    for tick in plot.ys.ticks:
        y = _n(plot.y(tick))
        label = ("true" if tick == 1 else "false") if boolean else tick_label(tick, plot.ys.step)
        out.append(f'<line class="grid" x1="{LEFT}" x2="{LEFT + plot.width}" y1="{y}" y2="{y}"/>'
                   f'<text class="tick y" x="{LEFT - 8}" y="{_n(plot.y(tick) + 4)}">{label}</text>')
    for tick in plot.xs.ticks:
        x = _n(plot.x(tick))
        out.append(f'<line class="tick-mark" x1="{x}" x2="{x}" y1="{bottom}" y2="{bottom + 5}"/>'
                   f'<text class="tick x" x="{x}" y="{bottom + 18}">{tick:g}</text>')
    out.append(f'<line class="axis" x1="{LEFT}" x2="{LEFT + plot.width}" y1="{bottom}" '
               f'y2="{bottom}"/><line class="axis" x1="{LEFT}" x2="{LEFT}" y1="{TOP}" '
               f'y2="{bottom}"/><text class="axis-label" x="{LEFT + plot.width / 2:g}" '
               f'y="{plot.height - 4}">step</text>')
    return out


def _stepped(points: list[Point]) -> list[Point]:
    """A true/false series holds its value until the next step: draw it as steps."""
    out: list[Point] = []
    for index, point in enumerate(points):
        if index:
            out.append((point[0], points[index - 1][1]))
        out.append(point)
    return out


def _series(plot: _Plot, series: Series, color: str, boolean: bool) -> str:
    path = _stepped(series.points) if boolean else series.points
    coords = " ".join(f"{_n(plot.x(x))},{_n(plot.y(y))}" for x, y in path)
    name = escape(series.name)
    out = [f'<polyline class="series" points="{coords}" stroke="{color}" '
           f'data-series="{name}"/>']
    if len(series.points) <= MAX_DOTS:
        for x, y in series.points:
            shown = ("true" if y else "false") if boolean else f"{y:g}"
            out.append(f'<circle class="dot" cx="{_n(plot.x(x))}" cy="{_n(plot.y(y))}" r="2.8" '
                       f'fill="{color}"><title>{name} · step {x:g}: {shown}</title></circle>')
    return "".join(out)


def _legend(series: Sequence[Series]) -> str:
    items = "".join(f'<li><span class="swatch" style="background:{PALETTE[i % len(PALETTE)]}">'
                    f"</span>{escape(s.name)}</li>" for i, s in enumerate(series))
    return f'<ul class="legend">{items}</ul>'


def line_chart(title: str, series: Sequence[Series], *, boolean: bool = False,
               key: str | None = None) -> str:
    """A ``<figure>`` with the chart of ``series`` (those without points left out)."""
    drawn = [s for s in series if s.points]
    caption = escape(title) + (' <span class="muted">(false/true)</span>' if boolean else "")
    head = f'<figure class="chart" data-variable="{escape(key or title)}"><figcaption>{caption}' \
           "</figcaption>"
    if not drawn:
        return head + '<p class="muted">no values</p></figure>'
    steps = [p[0] for s in drawn for p in s.points]
    height = BOOLEAN_HEIGHT if boolean else HEIGHT
    plot = _Plot(_x_scale(steps), _y_scale([p[1] for s in drawn for p in s.points], boolean),
                 height)
    names = ", ".join(s.name for s in drawn)
    label = escape(f"{title}: {names} over steps {min(steps):g} to {max(steps):g}")
    body = "".join(_axes(plot, boolean)) + "".join(
        _series(plot, s, PALETTE[i % len(PALETTE)], boolean) for i, s in enumerate(drawn))
    chart = (f'<svg class="chart-svg" viewBox="0 0 {WIDTH} {height}" role="img" '
             f'aria-label="{label}">{body}</svg>')
    legend = _legend(drawn) if len(drawn) > 1 or drawn[0].name != title else ""
    return head + chart + legend + "</figure>"

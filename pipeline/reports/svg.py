"""Inline SVG plots for the report (SPEC §7.7): drawn here, nothing fetched, no JavaScript."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from pipeline.reports.fmt import esc, short_money

WIDTH = 720
HEIGHT = 320
LEFT, RIGHT, TOP, BOTTOM = 78, 16, 16, 58

BLUE = "#2b6cb0"
RED = "#c53030"
GREEN = "#2f855a"
GREY = "#a0aec0"
INK = "#1a202c"


@dataclass(frozen=True)
class Scale:
    """A linear map from data values [lo, hi] onto pixels [p0, p1]."""

    lo: float
    hi: float
    p0: float
    p1: float

    def __call__(self, value: float) -> float:
        span = self.hi - self.lo
        if span == 0:
            return (self.p0 + self.p1) / 2
        return self.p0 + (value - self.lo) / span * (self.p1 - self.p0)


def _num(value: float) -> str:
    return f"{value:.1f}"


def nice_ticks(lo: float, hi: float, target: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 × 10^k steps) from at or below lo to at or above hi."""
    if hi <= lo:
        return [lo]
    raw = (hi - lo) / target
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.floor(lo / step + 1e-9) * step
    ticks: list[float] = []
    k = 0
    while True:
        value = first + k * step
        ticks.append(0.0 if abs(value) < step * 1e-9 else value)
        if value >= hi - step * 1e-9:
            return ticks
        k += 1


def symlog(value: float) -> float:
    """Signed log scale: keeps negative equity and spans $1 to $10bn on one axis."""
    return math.copysign(math.log10(1.0 + abs(value)), value)


def _symlog_ticks(lo: float, hi: float) -> list[tuple[float, float]]:
    """(position on the symlog axis, value) for 0 and ±10^k inside [lo, hi]."""
    ticks = [(0.0, 0.0)] if lo <= 0 <= hi else []
    top = int(max(abs(lo), abs(hi))) + 1
    step = 1 if top <= 7 else 2
    for k in range(step, top + 1, step):
        value = 10.0**k
        for signed in (value, -value):
            pos = symlog(signed)
            if lo <= pos <= hi:
                ticks.append((pos, signed))
    return sorted(ticks)


def _symlog_scale(values: Sequence[float], p0: float, p1: float) -> Scale:
    lo, hi = min(0.0, *values), max(1.0, *values)
    pad = (hi - lo) * 0.03
    return Scale(lo - pad, hi + pad, p0, p1)


def _open(plot_id: str, title: str, width: int = WIDTH, height: int = HEIGHT) -> list[str]:
    return [
        f'<svg id="{esc(plot_id)}" class="plot" '
        f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{esc(title)}">',
        f"<title>{esc(title)}</title>",
    ]


def _text(x: float, y: float, text: str, anchor: str = "middle", extra: str = "") -> str:
    return f'<text x="{_num(x)}" y="{_num(y)}" text-anchor="{anchor}" {extra}>{esc(text)}</text>'


def _y_axis(
    scale: Scale, ticks: Sequence[tuple[float, float]], label: Callable[[float], str], x0: float
) -> list[str]:
    parts = []
    for pos, value in ticks:
        y = scale(pos)
        parts.append(
            f'<line class="grid" x1="{_num(x0)}" x2="{WIDTH - RIGHT}" '
            f'y1="{_num(y)}" y2="{_num(y)}"/>'
        )
        parts.append(_text(x0 - 6, y + 4, label(value), "end"))
    return parts


def _axis_titles(x_title: str, y_title: str, height: int = HEIGHT) -> list[str]:
    middle = _num((TOP + height - BOTTOM) / 2)
    return [
        _text((LEFT + WIDTH - RIGHT) / 2, height - 8, x_title, extra='class="axis-title"'),
        _text(
            14,
            (TOP + height - BOTTOM) / 2,
            y_title,
            extra=f'class="axis-title" transform="rotate(-90 14 {middle})"',
        ),
    ]


def _money_axis(values: Sequence[float], whole: bool = False) -> tuple[Scale, list[str]]:
    """A vertical dollar scale (or, `whole`, a count scale) through zero and every value,
    widened to end on round ticks, with its grid lines and labels."""
    lo, hi = min(0.0, *values), max(0.0, *values)
    if lo == hi:
        hi = 1.0
    ticks = nice_ticks(lo, hi)
    label: Callable[[float], str] = short_money
    if whole:
        ticks = [t for t in ticks if t == int(t)] or [0.0, 1.0]
        label = _whole
    lo, hi = min(lo, ticks[0]), max(hi, ticks[-1])
    sy = Scale(lo, hi, HEIGHT - BOTTOM, TOP)
    return sy, _y_axis(sy, [(t, t) for t in ticks], label, LEFT)


def _whole(value: float) -> str:
    return f"{value:,.0f}"


def _zero_line(sy: Scale) -> str:
    return (
        f'<line class="zero" x1="{LEFT}" x2="{WIDTH - RIGHT}" '
        f'y1="{_num(sy(0))}" y2="{_num(sy(0))}"/>'
    )


def empty_plot(plot_id: str, title: str, message: str) -> str:
    """A placeholder with the plot's id, so a page without data still says why."""
    parts = _open(plot_id, title, WIDTH, 80)
    parts.append(_text(WIDTH / 2, 44, message, extra='class="empty"'))
    parts.append("</svg>")
    return "".join(parts)


def scatter(
    plot_id: str,
    title: str,
    xs: Sequence[float],
    ys: Sequence[float],
    flagged: Sequence[bool],
    x_title: str,
    y_title: str,
) -> str:
    """Points on shared symlog axes with the y = x diagonal; flagged points drawn in red."""
    if not xs:
        return empty_plot(plot_id, title, "no accounts")
    tx = [symlog(v) for v in xs]
    ty = [symlog(v) for v in ys]
    sx = _symlog_scale(tx, LEFT, WIDTH - RIGHT)
    sy = _symlog_scale(ty, HEIGHT - BOTTOM, TOP)
    parts = _open(plot_id, title)
    parts += _y_axis(sy, _symlog_ticks(sy.lo, sy.hi), short_money, LEFT)
    for pos, value in _symlog_ticks(sx.lo, sx.hi):
        parts.append(_text(sx(pos), HEIGHT - BOTTOM + 16, short_money(value)))
    # y = x is a straight line on these axes (the same transform, each scaled linearly).
    d0, d1 = max(sx.lo, sy.lo), min(sx.hi, sy.hi)
    if d0 < d1:
        parts.append(
            f'<line class="diagonal" x1="{_num(sx(d0))}" y1="{_num(sy(d0))}" '
            f'x2="{_num(sx(d1))}" y2="{_num(sy(d1))}"/>'
        )
    # Unflagged first so the accounts that matter are drawn on top.
    order = sorted(range(len(tx)), key=lambda i: flagged[i])
    for i in order:
        colour = RED if flagged[i] else BLUE
        parts.append(
            f'<circle cx="{_num(sx(tx[i]))}" cy="{_num(sy(ty[i]))}" r="2.2" fill="{colour}"/>'
        )
    parts += _axis_titles(x_title, y_title)
    parts.append("</svg>")
    return "".join(parts)


def histogram(
    plot_id: str,
    title: str,
    edges: Sequence[float],
    counts: Sequence[int],
    x_title: str,
    y_title: str,
) -> str:
    """Counts per bin [edges[i], edges[i+1])."""
    if not counts or sum(counts) == 0:
        return empty_plot(plot_id, title, "no XM-active accounts with XM positions")
    top = max(counts)
    ticks = [t for t in nice_ticks(0, top) if t == int(t)]
    sx = Scale(edges[0], edges[-1], LEFT, WIDTH - RIGHT)
    sy = Scale(0, max(ticks[-1], top), HEIGHT - BOTTOM, TOP)
    parts = _open(plot_id, title)
    parts += _y_axis(sy, [(t, t) for t in ticks], lambda v: f"{v:,.0f}", LEFT)
    for i, n in enumerate(counts):
        x0, x1 = sx(edges[i]), sx(edges[i + 1])
        y = sy(n)
        parts.append(
            f'<rect x="{_num(x0 + 1)}" y="{_num(y)}" width="{_num(max(x1 - x0 - 2, 1))}" '
            f'height="{_num(sy(0) - y)}" fill="{BLUE}"><title>'
            f"{edges[i]:.2f}–{edges[i + 1]:.2f}: {n:,}</title></rect>"
        )
    for i, edge in enumerate(edges):
        if i % 2 == 0:
            parts.append(_text(sx(edge), HEIGHT - BOTTOM + 16, f"{edge:.1f}"))
    parts += _axis_titles(x_title, y_title)
    parts.append("</svg>")
    return "".join(parts)


def grouped_bars(
    plot_id: str,
    title: str,
    categories: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    x_title: str,
    y_title: str,
) -> str:
    """Bars per category, one per series (name, values, colour), from a zero line."""
    values = [v for _, vals, _ in series for v in vals]
    if not categories or not values:
        return empty_plot(plot_id, title, "no sensitivities published")
    sy, axis = _money_axis(values)
    band = (WIDTH - RIGHT - LEFT) / len(categories)
    bar = band * 0.8 / len(series)
    parts = _open(plot_id, title) + axis
    for c, category in enumerate(categories):
        x_band = LEFT + c * band + band * 0.1
        for s, (name, vals, colour) in enumerate(series):
            v = vals[c]
            y0, y1 = sy(max(v, 0.0)), sy(min(v, 0.0))
            parts.append(
                f'<rect x="{_num(x_band + s * bar)}" y="{_num(y0)}" width="{_num(bar - 1)}" '
                f'height="{_num(max(y1 - y0, 0.5))}" fill="{colour}"><title>'
                f"{esc(category)} {esc(name)}: {v:,.2f}</title></rect>"
            )
        parts.append(_text(LEFT + (c + 0.5) * band, HEIGHT - BOTTOM + 16, category))
    parts.append(_zero_line(sy))
    parts += _legend([(name, colour) for name, _, colour in series])
    parts += _axis_titles(x_title, y_title)
    parts.append("</svg>")
    return "".join(parts)


def _legend(entries: Sequence[tuple[str, str]]) -> list[str]:
    parts = []
    x = LEFT + 8
    for name, colour in entries:
        parts.append(f'<rect x="{_num(x)}" y="{TOP + 2}" width="10" height="10" fill="{colour}"/>')
        parts.append(_text(x + 14, TOP + 11, name, "start"))
        x += 24 + 7 * len(name)
    return parts


@dataclass(frozen=True)
class Step:
    """One waterfall bar: a change (`delta`) from the running level, or a `total` from zero."""

    label: str
    value: float
    total: bool = False


def waterfall(plot_id: str, title: str, steps: Sequence[Step], y_title: str) -> str:
    """Running level: deltas float from the previous level, totals stand on zero."""
    level = 0.0
    bars: list[tuple[Step, float, float]] = []
    for step in steps:
        if step.total:
            bars.append((step, 0.0, step.value))
            level = step.value
        else:
            bars.append((step, level, level + step.value))
            level += step.value
    values = [v for _, a, b in bars for v in (a, b)]
    sy, axis = _money_axis(values)
    band = (WIDTH - RIGHT - LEFT) / len(bars)
    parts = _open(plot_id, title) + axis
    for i, (step, start, end) in enumerate(bars):
        colour = INK if step.total else (GREEN if end >= start else RED)
        y0, y1 = sy(max(start, end)), sy(min(start, end))
        x = LEFT + i * band + band * 0.15
        parts.append(
            f'<rect x="{_num(x)}" y="{_num(y0)}" width="{_num(band * 0.7)}" '
            f'height="{_num(max(y1 - y0, 0.5))}" fill="{colour}"><title>'
            f"{esc(step.label)}: {step.value:,.2f}</title></rect>"
        )
        parts.append(_text(x + band * 0.35, y0 - 4, short_money(step.value), extra='class="v"'))
        parts.append(_text(LEFT + (i + 0.5) * band, HEIGHT - BOTTOM + 16, step.label))
    parts.append(_zero_line(sy))
    parts += _axis_titles("", y_title)
    parts.append("</svg>")
    return "".join(parts)


def hbars(plot_id: str, title: str, labels: Sequence[str], values: Sequence[float]) -> str:
    """Horizontal bars, one per label, longest first as given."""
    if not labels:
        return empty_plot(plot_id, title, "no cross-margining savings")
    row = 18
    height = TOP + row * len(labels) + 40
    left = 170
    top_value = max(max(values), 1.0)
    ticks = nice_ticks(0, top_value)
    sx = Scale(0, max(ticks[-1], top_value), left, WIDTH - RIGHT - 50)
    parts = _open(plot_id, title, WIDTH, height)
    for t in ticks:
        x = sx(t)
        parts.append(
            f'<line class="grid" x1="{_num(x)}" x2="{_num(x)}" y1="{TOP}" '
            f'y2="{TOP + row * len(labels)}"/>'
        )
        parts.append(_text(x, TOP + row * len(labels) + 16, short_money(t)))
    for i, (label, value) in enumerate(zip(labels, values, strict=True)):
        y = TOP + i * row
        parts.append(_text(left - 6, y + 13, label, "end"))
        parts.append(
            f'<rect x="{left}" y="{y + 3}" width="{_num(max(sx(value) - left, 0.5))}" '
            f'height="{row - 6}" fill="{GREEN}"><title>{esc(label)}: {value:,.2f}</title></rect>'
        )
        parts.append(_text(sx(value) + 4, y + 13, short_money(value), "start", 'class="v"'))
    parts.append("</svg>")
    return "".join(parts)


DATE_LABELS = 7


def _date_band(dates: Sequence[str]) -> tuple[float, list[str]]:
    """Width of one date's band on the x axis and the labels of a few evenly spaced dates."""
    band = (WIDTH - RIGHT - LEFT) / len(dates)
    step = max(1, math.ceil(len(dates) / DATE_LABELS))
    labels = [
        _text(LEFT + (i + 0.5) * band, HEIGHT - BOTTOM + 16, day)
        for i, day in enumerate(dates)
        if i % step == 0
    ]
    return band, labels


def date_lines(
    plot_id: str,
    title: str,
    dates: Sequence[str],
    series: Sequence[tuple[str, Sequence[float | None], str]],
    y_title: str,
) -> str:
    """One line per series (name, values by date, colour) over business dates; a None is a gap."""
    values = [v for _, vals, _ in series for v in vals if v is not None]
    if not dates or not values:
        return empty_plot(plot_id, title, "no published dates")
    sy, axis = _money_axis(values)
    band, labels = _date_band(dates)
    parts = _open(plot_id, title) + axis + labels
    for name, vals, colour in series:
        runs: list[list[str]] = [[]]
        for i, v in enumerate(vals):
            if v is None:
                runs.append([])
                continue
            runs[-1].append(f"{_num(LEFT + (i + 0.5) * band)},{_num(sy(v))}")
        for points in runs:
            if len(points) == 1:
                x, y = points[0].split(",")
                parts.append(f'<circle cx="{x}" cy="{y}" r="2.5" fill="{colour}"/>')
            elif points:
                parts.append(
                    f'<polyline fill="none" stroke="{colour}" stroke-width="1.8" '
                    f'points="{" ".join(points)}"><title>{esc(name)}</title></polyline>'
                )
    parts.append(_zero_line(sy))
    parts += _legend([(name, colour) for name, _, colour in series])
    parts += _axis_titles("business date", y_title)
    parts.append("</svg>")
    return "".join(parts)


def date_bars(
    plot_id: str,
    title: str,
    dates: Sequence[str],
    series: Sequence[tuple[str, Sequence[float], str]],
    y_title: str,
    counts: bool = False,
) -> str:
    """Bars per business date, the series (name, values, colour) stacked from a zero line.

    Positive values stack upwards and negative ones downwards; `counts` labels the axis with
    whole numbers instead of dollars.
    """
    if not dates or not series:
        return empty_plot(plot_id, title, "no published dates")
    ups = [sum(max(vals[i], 0.0) for _, vals, _ in series) for i in range(len(dates))]
    downs = [sum(min(vals[i], 0.0) for _, vals, _ in series) for i in range(len(dates))]
    sy, axis = _money_axis([*ups, *downs], whole=counts)
    band, labels = _date_band(dates)
    width = max(band * 0.8, 0.6)
    parts = _open(plot_id, title) + axis + labels
    for i, day in enumerate(dates):
        up = down = 0.0
        x = LEFT + i * band + (band - width) / 2
        for name, vals, colour in series:
            v = vals[i]
            if v == 0:
                continue
            start = up if v > 0 else down
            end = start + v
            if v > 0:
                up = end
            else:
                down = end
            y0, y1 = sy(max(start, end)), sy(min(start, end))
            shown = _whole(v) if counts else f"{v:,.2f}"
            parts.append(
                f'<rect x="{_num(x)}" y="{_num(y0)}" width="{_num(width)}" '
                f'height="{_num(max(y1 - y0, 0.5))}" fill="{colour}"><title>'
                f"{esc(day)} {esc(name)}: {shown}</title></rect>"
            )
    parts.append(_zero_line(sy))
    parts += _legend([(name, colour) for name, _, colour in series])
    parts += _axis_titles("business date", y_title)
    parts.append("</svg>")
    return "".join(parts)

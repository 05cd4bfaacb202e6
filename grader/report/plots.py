"""Small inline SVG charts for the feedback pages: no JavaScript, no network, every label escaped."""

from __future__ import annotations

import math
from collections.abc import Sequence

from markupsafe import Markup, escape

from grader.report.results import MAX_CELL, MAX_CURVE_POINTS, MAX_CURVES, downsample

PALETTE = ("#1f6feb", "#d1242f", "#1a7f37", "#8250df", "#bf8700", "#57606a")


def line_plot(
    series: dict[str, Sequence[float]],
    lengths: dict[str, int] | None = None,
    *,
    width: int = 420,
    height: int = 180,
    x_label: str = "epoch",
    y_label: str = "loss",
) -> Markup:
    """Lines for each named series (say the student's and the reference's loss curves).

    A series is drawn from at most MAX_CURVE_POINTS points (downsampled here too, whatever the result
    holds); ``lengths`` gives the original length of series downsampled before, for the x axis. The
    x axis counts from 1 (epoch 1 is the first), as messages do. The legend sits below the chart, one
    line per series with its stroke, so it never covers a curve (loss curves start in the top left)."""
    clean, spans = {}, {}
    for name, values in list(series.items())[:MAX_CURVES]:
        points = [float(v) for v in downsample([v for v in values if _finite(v)], MAX_CURVE_POINTS)]
        if points:
            name = str(name)[:MAX_CELL]
            clean[name] = points
            recorded = (lengths or {}).get(name)
            spans[name] = recorded if isinstance(recorded, int) and recorded > len(points) else len(values)
    if not clean:
        return Markup("")
    left, right, top, bottom = 48, 10, 10, 34
    longest = max(spans.values())
    low = min(min(values) for values in clean.values())
    high = max(max(values) for values in clean.values())
    if high == low:
        high, low = high + 1, low - 1
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: float) -> float:
        return left + (plot_w * i / max(longest - 1, 1))

    def y(v: float) -> float:
        return top + plot_h * (1 - (v - low) / (high - low))

    legend_row = 16
    total_height = height + legend_row * len(clean) + 4
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{total_height}" role="img" class="plot">',
        f'<rect x="{left}" y="{top}" width="{plot_w}" height="{plot_h}" fill="#fff" stroke="#d0d7de"/>',
    ]
    for value in (low, (low + high) / 2, high):
        parts.append(f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end" class="tick">{_fmt(value)}</text>')
    parts.append(f'<text x="{left}" y="{height - 18}" class="tick">1</text>')
    parts.append(f'<text x="{left + plot_w}" y="{height - 18}" text-anchor="end" class="tick">{longest}</text>')
    parts.append(
        f'<text x="{left + plot_w / 2:.0f}" y="{height - 4}" text-anchor="middle" class="tick">{escape(x_label)}</text>'
    )
    for index, (name, values) in enumerate(clean.items()):
        color = PALETTE[index % len(PALETTE)]
        step = (spans[name] - 1) / max(len(values) - 1, 1)  # downsampled points spread over the original span
        polyline = " ".join(f"{x(i * step):.1f},{y(v):.1f}" for i, v in enumerate(values))
        dash = ' stroke-dasharray="5,3"' if index else ""
        parts.append(f'<polyline fill="none" stroke="{color}" stroke-width="2"{dash} points="{polyline}"/>')
        label = f"{name} ({spans[name]:,} points, {len(values)} shown)" if spans[name] > len(values) else name
        row = height + legend_row * index + 8
        parts.append(
            f'<line x1="{left}" y1="{row}" x2="{left + 24}" y2="{row}" stroke="{color}" stroke-width="2"{dash}/>'
            f'<text x="{left + 30}" y="{row + 4}" fill="{color}" class="legend">{escape(label)}</text>'
        )
    parts.append(f"<title>{escape(y_label)} per {escape(x_label)}</title></svg>")
    return Markup("".join(parts))


def histogram(
    values: Sequence[float], *, maximum: float = 100.0, bins: int = 10, width: int = 300, height: int = 120
) -> Markup:
    """Score distribution: how many students fall in each tenth of the points."""
    counts = [0] * bins
    for value in values:
        if _finite(value):
            counts[min(int(bins * max(value, 0) / maximum) if maximum else 0, bins - 1)] += 1
    tallest = max(counts) or 1
    bar_w = (width - 20) / bins
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" role="img" class="plot">']
    for i, count in enumerate(counts):
        bar_h = (height - 30) * count / tallest
        x = 10 + i * bar_w
        parts.append(
            f'<rect x="{x + 1:.1f}" y="{height - 18 - bar_h:.1f}" width="{bar_w - 2:.1f}" height="{bar_h:.1f}" '
            f'fill="#1f6feb"><title>{_fmt(i * maximum / bins)}-{_fmt((i + 1) * maximum / bins)}: {count}</title></rect>'
        )
        if count:
            parts.append(
                f'<text x="{x + bar_w / 2:.1f}" y="{height - 21 - bar_h:.1f}" text-anchor="middle" class="tick">{count}</text>'
            )
    parts.append(f'<text x="10" y="{height - 4}" class="tick">0</text>')
    parts.append(f'<text x="{width - 10}" y="{height - 4}" text-anchor="end" class="tick">{_fmt(maximum)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def _finite(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def _fmt(value: float) -> str:
    return f"{value:.3g}"

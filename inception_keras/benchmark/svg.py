"""A labelled scatter plot written as SVG text: one point per model, no plotting library needed.

    svg = scatter_svg([("v4 (keras)", 142.8, 80.1), ("v4.onnx", 97.0, 80.1)],
                      x_label="batch-1 latency (ms)", y_label="top-1 (%)", title="top-1 against latency")
"""

from __future__ import annotations

import math
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 70, 30, 40, 55  # margins around the plotting area
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf")


def nice_ticks(low: float, high: float, count: int = 5) -> list[float]:
    """About ``count`` round tick values (1, 2, 2.5 or 5 times a power of ten) covering [low, high]."""
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError(f"axis limits must be finite numbers, got {low}, {high}")
    if high <= low:
        pad = abs(low) * 0.05 or 1.0
        low, high = low - pad, high + pad
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    start = math.floor(low / step) * step
    ticks = []
    value = start
    while value < high + step * 0.999:
        ticks.append(round(value, 10))
        value += step
    return ticks


def _label(value: float) -> str:
    return f"{value:g}" if abs(value) >= 1e-3 or value == 0 else f"{value:.1e}"


def _axes(xs, ys, x_label: str, y_label: str):
    """The axis lines, grid, tick labels and titles; and the functions that place a point."""
    xt, yt = nice_ticks(min(xs), max(xs)), nice_ticks(min(ys), max(ys))
    x0, x1, y0, y1 = xt[0], xt[-1], yt[0], yt[-1]
    w, h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM

    def px(x):
        return LEFT + (x - x0) / (x1 - x0) * w

    def py(y):
        return TOP + h - (y - y0) / (y1 - y0) * h

    parts = [f'<rect x="{LEFT}" y="{TOP}" width="{w}" height="{h}" fill="none" stroke="#333"/>']
    for t in xt:
        parts.append(f'<line x1="{px(t):.1f}" y1="{TOP}" x2="{px(t):.1f}" y2="{TOP + h}" stroke="#ddd"/>')
        parts.append(f'<text x="{px(t):.1f}" y="{TOP + h + 18}" text-anchor="middle">{_label(t)}</text>')
    for t in yt:
        parts.append(f'<line x1="{LEFT}" y1="{py(t):.1f}" x2="{LEFT + w}" y2="{py(t):.1f}" stroke="#ddd"/>')
        parts.append(f'<text x="{LEFT - 8}" y="{py(t) + 4:.1f}" text-anchor="end">{_label(t)}</text>')
    parts.append(f'<text x="{LEFT + w / 2:.1f}" y="{HEIGHT - 12}" text-anchor="middle">{escape(x_label)}</text>')
    parts.append(f'<text x="16" y="{TOP + h / 2:.1f}" text-anchor="middle" '
                 f'transform="rotate(-90 16 {TOP + h / 2:.1f})">{escape(y_label)}</text>')
    return parts, px, py


def scatter_svg(points, *, x_label: str, y_label: str, title: str = "") -> str:
    """An SVG document: ``points`` are ``(label, x, y)``, each drawn as a dot with its label.

    Raises ValueError when there is no point or a coordinate is not a finite number."""
    points = [(str(label), float(x), float(y)) for label, x, y in points]
    if not points:
        raise ValueError("nothing to plot: no points")
    bad = [label for label, x, y in points if not (math.isfinite(x) and math.isfinite(y))]
    if bad:
        raise ValueError(f"cannot plot {', '.join(bad)}: a coordinate is not a finite number")
    parts, px, py = _axes([p[1] for p in points], [p[2] for p in points], x_label, y_label)
    for i, (label, x, y) in enumerate(points):
        colour = COLOURS[i % len(COLOURS)]
        anchor, dx = ("end", -9) if px(x) > LEFT + 0.7 * (WIDTH - LEFT - RIGHT) else ("start", 9)
        dy = -8 - 13 * (i % 2)  # alternate heights: points close together keep readable labels
        parts.append(f'<circle class="point" cx="{px(x):.1f}" cy="{py(y):.1f}" r="5" fill="{colour}">'
                     f'<title>{escape(label)}: {x:g}, {y:g}</title></circle>')
        parts.append(f'<text class="label" x="{px(x) + dx:.1f}" y="{py(y) + dy:.1f}" text-anchor="{anchor}" '
                     f'fill="{colour}">{escape(label)}</text>')
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
            f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">')
    title_text = f'<text x="{WIDTH / 2}" y="22" text-anchor="middle" font-size="15">{escape(title)}</text>'
    return "\n".join([head, '<rect width="100%" height="100%" fill="white"/>', title_text, *parts, "</svg>"]) + "\n"


def report_plot(report: dict) -> tuple[str, str]:
    """``(svg, what)`` for a deploy report: top-1 accuracy against batch-1 latency when the data
    has matching labels, else top-1 agreement with the reference; ``what`` names the y axis."""
    labelled = report["data"]["labelled"]
    key, what = ("top1", "top-1 accuracy") if labelled else ("top1_agreement", "top-1 agreement with the reference")
    points = [(r["name"].rstrip("/").rsplit("/", 1)[-1] + (" (ref)" if r["reference"] else ""),
               r["latency_ms_median"], 100 * r[key]) for r in report["artifacts"]]
    svg = scatter_svg(points, x_label="batch-1 latency, median (ms)", y_label=f"{what} (%)",
                      title=f"{what} against latency, {report['data']['images']} images")
    return svg, what

"""Inline SVG charts of the dashboard, drawn from the numbers its tables show: no
script, no network. Each chart is an image with a text alternative; the table beside it
carries the same numbers for those who do not see it."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH, HEIGHT = 640.0, 200.0
LEFT, BOTTOM, TOP = 40.0, 30.0, 10.0
#: colours with at least 3:1 against white (WCAG 1.4.11, graphics)
COLOURS = ("#0b4f9c", "#a35d00", "#135e1f", "#6b2c91", "#8a1c1c")


def bars(
    labels: Sequence[str],
    series: Sequence[tuple[str, Sequence[float]]],
    title: str,
    fmt: str = "{:.0f}",
    top: float | None = None,
) -> str:
    """Grouped bars: one group per label (a day), one bar per series, a legend, the
    axis up to ``top`` (default: the largest value). ``title`` is the chart's
    accessible name."""
    if top is None:
        top = max((v for _, values in series for v in values), default=0.0) or 1.0
    plot_w, plot_h = WIDTH - LEFT - 10, HEIGHT - BOTTOM - TOP
    group = plot_w / max(1, len(labels))
    bar = group * 0.8 / max(1, len(series))
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH:.0f} {HEIGHT + 20:.0f}" role="img" '
        f'aria-label="{escape(title)}"><title>{escape(title)}</title>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 10}" y2="{TOP + plot_h}" '
        'stroke="#555"/>',
        f'<text x="{LEFT - 4}" y="{TOP + 8}" text-anchor="end" font-size="11">'
        f"{escape(fmt.format(top))}</text>",
        f'<text x="{LEFT - 4}" y="{TOP + plot_h}" text-anchor="end" font-size="11">0</text>',
    ]
    step = max(1, len(labels) // 7)
    for i, label in enumerate(labels):
        x0 = LEFT + i * group + group * 0.1
        for j, (_name, values) in enumerate(series):
            v = values[i]
            h = plot_h * v / top
            parts.append(
                f'<rect x="{x0 + j * bar:.1f}" y="{TOP + plot_h - h:.1f}" width="{bar:.1f}" '
                f'height="{h:.1f}" fill="{COLOURS[j % len(COLOURS)]}">'
                f"<title>{escape(label)}: {escape(fmt.format(v))}</title></rect>"
            )
        if i % step == 0:
            parts.append(
                f'<text x="{LEFT + i * group + group / 2:.1f}" y="{HEIGHT - 12}" '
                f'text-anchor="middle" font-size="11">{escape(label)}</text>'
            )
    x = LEFT
    for j, (name, _values) in enumerate(series):
        colour = COLOURS[j % len(COLOURS)]
        parts.append(
            f'<rect x="{x:.0f}" y="{HEIGHT + 6}" width="10" height="10" fill="{colour}"/>'
            f'<text x="{x + 14:.0f}" y="{HEIGHT + 15}" font-size="11">{escape(name)}</text>'
        )
        x += 14 + sum(12 if ord(c) > 255 else 7 for c in name) + 20
    parts.append("</svg>")
    return "".join(parts)

"""Inline SVG charts drawn here (no library, nothing from the network): a line against a target, bars.

Every text is escaped. Marks carry classes the page's test counts: `point` (a week's rate), `bar`
(a merchant, category or histogram bucket), `target` (the target line).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

WIDTH = 760
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 56, 16, 16, 48
MAX_LABELS = 12


def _frame(label: str, body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(label)}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" height="{HEIGHT}">' + "".join(body) + "</svg>"
    )


def _text(x: float, y: float, text: str, anchor: str = "middle", css: str = "label") -> str:
    return f'<text class="{css}" x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}">{escape(text)}</text>'


def _axes(top_label: str) -> list[str]:
    bottom = HEIGHT - BOTTOM
    return [
        f'<line class="axis" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}"/>',
        f'<line class="axis" x1="{LEFT}" y1="{bottom}" x2="{WIDTH - RIGHT}" y2="{bottom}"/>',
        _text(LEFT - 6, TOP + 4, top_label, "end"),
        _text(LEFT - 6, bottom, "0", "end"),
    ]


def rate_line(label: str, names: Sequence[str], rates: Sequence[float | None], target: float) -> str:
    """Rates from 0 to 1 as points joined by a line (a week without decided clocks is a gap), and the target."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    step = plot_w / max(len(names), 1)
    every = -(-len(names) // MAX_LABELS)  # a label on every n-th week, so that they never overlap
    body = _axes("100%")
    ty = TOP + plot_h * (1 - target)
    body.append(f'<line class="target" x1="{LEFT}" y1="{ty:.1f}" x2="{WIDTH - RIGHT}" y2="{ty:.1f}"/>')
    body.append(_text(WIDTH - RIGHT, ty - 4, f"target {target:.0%}", "end", "target-label"))
    segment: list[str] = []
    for index, (name, rate) in enumerate(zip(names, rates, strict=True)):
        x = LEFT + step * (index + 0.5)
        if index % every == 0:
            body.append(_text(x, HEIGHT - BOTTOM + 16, name))
        if rate is None:
            if len(segment) > 1:
                body.append(f'<polyline class="line" points="{" ".join(segment)}"/>')
            segment = []
            continue
        y = TOP + plot_h * (1 - rate)
        segment.append(f"{x:.1f},{y:.1f}")
        body.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="4"><title>{escape(f"{name}: {rate:.1%}")}</title></circle>'
        )
    if len(segment) > 1:
        body.append(f'<polyline class="line" points="{" ".join(segment)}"/>')
    return _frame(label, body)


def bars(
    label: str, names: Sequence[str], values: Sequence[float], shown: Sequence[str], mark: float | None, percent: bool
) -> str:
    """One vertical bar per name, `shown` written under it and in its tooltip; `mark`: a reference line;
    `percent`: the values are shares (the scale reads 100 % for 1.0)."""
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    top = max([*values, mark or 0.0, 1e-9])
    step = plot_w / max(len(names), 1)
    body = _axes(f"{top:.0%}" if percent else f"{top:.0f}")
    for index, (name, value, text) in enumerate(zip(names, values, shown, strict=True)):
        h = plot_h * value / top
        x = LEFT + step * index + step * 0.15
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{TOP + plot_h - h:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}">'
            f"<title>{escape(f'{name}: {text}')}</title></rect>"
        )
        body.append(_text(x + step * 0.35, HEIGHT - BOTTOM + 16, name[:14]))
        body.append(_text(x + step * 0.35, HEIGHT - BOTTOM + 32, text))
    if mark is not None:
        y = TOP + plot_h * (1 - mark / top)
        body.append(f'<line class="target" x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}"/>')
    return _frame(label, body)

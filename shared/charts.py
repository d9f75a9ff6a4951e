"""Charts drawn on the server as inline SVG: the frame, the value axis and bar charts.

Reports show charts without any script (strict CSP, no build step) and the same on every
screen, so they are SVG markup made here: numbers and escaped labels only, presentation
in attributes and classes (no `style`), a `<title>` for screen readers. Every chart's
value axis (a round top, round steps, a grid line and a label per step) comes from
`nice_scale` and `value_axis`, whatever draws the data.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from markupsafe import Markup, escape


@dataclass(frozen=True)
class Frame:
    """A chart's size (the viewBox) and the margins around its plot area."""

    width: int
    height: int
    left: int
    right: int
    top: int
    bottom: int

    @property
    def plot_width(self) -> int:
        return self.width - self.left - self.right

    @property
    def plot_height(self) -> int:
        return self.height - self.top - self.bottom

    @property
    def baseline(self) -> int:
        """The y of the value 0 (the bottom of the plot area)."""
        return self.height - self.bottom

    def y(self, value: float, top: int) -> float:
        """The y of `value` on a value axis going from 0 to `top`."""
        return self.top + self.plot_height * (1 - value / top)


def nice_scale(value: float, *, most_steps: int = 6) -> tuple[int, int]:
    """A round top for a value axis reaching `value`, and its step.

    The step is 1, 2 or 5 times a power of ten, the smallest that needs at most
    `most_steps` steps.
    """
    value = max(int(value + 0.999), 1)
    magnitude = 1
    while True:
        for factor in (1, 2, 5):
            step = factor * magnitude
            if value / step <= most_steps:
                return -(-value // step) * step, step
        magnitude *= 10


def svg_open(frame: Frame, title: str, *, chart_id: str, css: str = "") -> list[str]:
    """The opening `<svg>` tag and its title (the chart's accessible name)."""
    classes = f"chart {css}".strip()
    return [
        f'<svg class="{escape(classes)}" viewBox="0 0 {frame.width} {frame.height}" '
        f'role="img" aria-labelledby="{chart_id}" xmlns="http://www.w3.org/2000/svg">',
        f'<title id="{chart_id}">{escape(title)}</title>',
    ]


def value_axis(frame: Frame, top: int, step: int) -> list[str]:
    """A horizontal grid line and a label at each step from 0 to `top`."""
    parts = []
    for tick in range(0, top + 1, step):
        y = frame.y(tick, top)
        parts.append(
            f'<line class="chart-grid" x1="{frame.left}" x2="{frame.width - frame.right}" '
            f'y1="{y:.1f}" y2="{y:.1f}" stroke="#d8dde3" stroke-width="1"/>'
            f'<text class="chart-label" x="{frame.left - 6}" y="{y + 4:.1f}" '
            f'text-anchor="end" font-size="12">{tick}</text>'
        )
    return parts


def x_label(x: float, y: int, text: object, *, size: int) -> str:
    """A label centred under the plot area at `x`."""
    return (
        f'<text class="chart-label" x="{x:.1f}" y="{y}" text-anchor="middle" '
        f'font-size="{size}">{escape(text)}</text>'
    )


def close(parts: list[str]) -> Markup:
    """The chart's parts as markup, with the closing tag."""
    return Markup("".join([*parts, "</svg>"]))  # noqa: S704 - numbers and escaped labels only


@dataclass(frozen=True)
class Bar:
    """One bar: its value, its tooltip ("label: shown") and its short label on the axis."""

    label: str
    value: float
    shown: str
    tick: str


#: The frame of a bar chart (a report card's width).
BAR_FRAME = Frame(width=760, height=240, left=44, right=12, top=14, bottom=46)


def bar_chart_svg(title: str, bars: Sequence[Bar], *, chart_id: str, css: str = "") -> Markup:
    """A bar chart as inline SVG: one bar per item, about twelve labels along the axis."""
    if not bars:
        return Markup("")
    frame = BAR_FRAME
    top, step = nice_scale(max(bar.value for bar in bars))
    slot = frame.plot_width / len(bars)
    width = max(1.0, slot * 0.7)
    label_every = max(1, round(len(bars) / 12))
    parts = [*svg_open(frame, title, chart_id=chart_id, css=css), *value_axis(frame, top, step)]
    for n, bar in enumerate(bars):
        x = frame.left + slot * n + (slot - width) / 2
        h = frame.plot_height * bar.value / top
        parts.append(
            f'<rect class="chart-bar" x="{x:.1f}" y="{frame.baseline - h:.1f}" '
            f'width="{width:.1f}" height="{h:.1f}" fill="#1f5fbf">'
            f"<title>{escape(bar.label)}: {escape(bar.shown)}</title></rect>"
        )
        if n % label_every == 0:
            cx = frame.left + slot * n + slot / 2
            parts.append(x_label(cx, frame.baseline + 16, bar.tick, size=11))
    return close(parts)

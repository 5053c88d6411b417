"""Charts as inline SVG text: no JavaScript, no CDN, nothing fetched when the page opens."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

PALETTE = ["#2F6DB5", "#E07B39", "#3A9D5D", "#C0392B", "#8E6BBF", "#7F8C8D", "#D4AC0D", "#16A085"]
FONT = "font-family='Noto Sans CJK SC, Microsoft YaHei, PingFang SC, sans-serif'"


def _number(value: float, percent: bool) -> str:
    if percent:
        return f"{value:.1%}"
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.2f}"


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    percent: bool = False,
    width: int = 640,
    bar_height: int = 22,
    color: str = PALETTE[0],
) -> str:
    """Horizontal bars, one per label, the value written at the bar's end."""
    if not labels:
        return f"<p class='empty'>{escape(title)}: 无数据 / no data</p>"
    label_width, top, gap = 170, 30, 6
    height = top + len(labels) * (bar_height + gap) + 10
    top_value = max(max(values), 1e-9) if not percent else max(max(values), 1.0)
    scale = (width - label_width - 90) / top_value
    parts = [
        (
            f"<svg xmlns='http://www.w3.org/2000/svg' role='img' class='chart' width='{width}' "
            f"height='{height}' viewBox='0 0 {width} {height}' {FONT} font-size='13'>"
        ),
        f"<title>{escape(title)}</title>",
        f"<text x='0' y='18' font-size='15' font-weight='bold'>{escape(title)}</text>",
    ]
    for i, (label, value) in enumerate(zip(labels, values)):
        y = top + i * (bar_height + gap)
        length = max(value * scale, 0)
        parts += [
            (
                f"<text x='{label_width - 8}' y='{y + bar_height * 0.7:.1f}' text-anchor='end'>"
                f"{escape(str(label))}</text>"
            ),
            (
                f"<rect x='{label_width}' y='{y}' width='{length:.1f}' height='{bar_height}' "
                f"fill='{color}'><title>{escape(str(label))}: {_number(value, percent)}</title></rect>"
            ),
            (
                f"<text x='{label_width + length + 6:.1f}' y='{y + bar_height * 0.7:.1f}'>"
                f"{_number(value, percent)}</text>"
            ),
        ]
    parts.append("</svg>")
    return "".join(parts)


def line_chart(
    x_labels: Sequence[str],
    series: dict[str, Sequence[float | None]],
    *,
    title: str,
    percent: bool = False,
    width: int = 640,
    height: int = 260,
) -> str:
    """One line per series over the runs, with dots and a legend."""
    values = [v for points in series.values() for v in points if v is not None]
    if not x_labels or not values:
        return f"<p class='empty'>{escape(title)}: 无数据 / no data</p>"
    left, right, top, bottom = 70, 20, 50, 50
    low, high = min(min(values), 0), max(values)
    high = high if high > low else low + 1
    step = (width - left - right) / max(len(x_labels) - 1, 1)

    def xy(i: int, v: float) -> tuple[float, float]:
        return left + i * step, top + (high - v) / (high - low) * (height - top - bottom)

    parts = [
        (
            f"<svg xmlns='http://www.w3.org/2000/svg' role='img' class='chart' width='{width}' "
            f"height='{height}' viewBox='0 0 {width} {height}' {FONT} font-size='12'>"
        ),
        f"<title>{escape(title)}</title>",
        f"<text x='0' y='18' font-size='15' font-weight='bold'>{escape(title)}</text>",
        f"<line x1='{left}' y1='{height - bottom}' x2='{width - right}' y2='{height - bottom}' stroke='#999'/>",
        f"<line x1='{left}' y1='{top}' x2='{left}' y2='{height - bottom}' stroke='#999'/>",
    ]
    for v in (low, (low + high) / 2, high):
        _, y = xy(0, v)
        parts.append(
            f"<text x='{left - 6}' y='{y + 4:.1f}' text-anchor='end'>{_number(v, percent)}</text>"
        )
    every = max(len(x_labels) // 8, 1)
    for i, label in enumerate(x_labels):
        if i % every == 0 or i == len(x_labels) - 1:
            x, _ = xy(i, low)
            parts.append(
                f"<text x='{x:.1f}' y='{height - bottom + 16}' text-anchor='middle'>{escape(label)}</text>"
            )
    for k, (name, points) in enumerate(series.items()):
        color = PALETTE[k % len(PALETTE)]
        coords = [xy(i, v) for i, v in enumerate(points) if v is not None]
        if len(coords) > 1:
            path = " ".join(f"{x:.1f},{y:.1f}" for x, y in coords)
            parts.append(
                f"<polyline points='{path}' fill='none' stroke='{color}' stroke-width='2'/>"
            )
        parts += [f"<circle cx='{x:.1f}' cy='{y:.1f}' r='3.5' fill='{color}'/>" for x, y in coords]
        lx = left + k * 160
        parts += [
            f"<rect x='{lx}' y='{height - 18}' width='12' height='12' fill='{color}'/>",
            f"<text x='{lx + 16}' y='{height - 8}'>{escape(name)}</text>",
        ]
    parts.append("</svg>")
    return "".join(parts)

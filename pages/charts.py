"""Server-rendered SVG charts for the dashboard and the models page: pure functions returning SVG markup.

Every text that comes from data (user names, labels) is XML-escaped; numbers are formatted here.
Each chart carries a <title> and role="img" with an aria-label, so it reads as a figure.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from html import escape

FONT = 'font-family="system-ui, sans-serif" font-size="12"'
BAR = "#0b57d0"
AXIS = "#57606a"
EMPTY = '<p class="muted chart-empty">{}</p>'


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _num(x: float) -> str:
    """Coordinates with at most one decimal, no trailing zeros."""
    return f"{x:.1f}".rstrip("0").rstrip(".")


def _svg(width: float, height: float, title: str, body: str) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" aria-label="{_e(title)}" '
            f'viewBox="0 0 {_num(width)} {_num(height)}" width="{_num(width)}" height="{_num(height)}" {FONT}>'
            f"<title>{_e(title)}</title>{body}</svg>")


def _truncate(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"


def bar_chart(rows: Sequence[tuple[str, float | None]], title: str, *, max_value: float | None = None,
              percent: bool = False, color: str = BAR) -> str:
    """Horizontal bars, one per (name, value); a None value is drawn as "n/a" with no bar.

    `max_value` fixes the scale (1.0 for shares); by default the largest value sets it.
    """
    rows = list(rows)
    if not rows:
        return EMPTY.format(_e(f"{title}: nothing to show yet."))
    label_w, bar_w, value_w, row_h, top = 140, 360, 64, 26, 8
    values = [v for _, v in rows if v is not None]
    scale = max_value if max_value is not None else max(values, default=0)
    scale = scale if scale and scale > 0 else 1
    width, height = label_w + bar_w + value_w, top * 2 + row_h * len(rows)
    parts = [f'<line x1="{label_w}" y1="{top - 2}" x2="{label_w}" y2="{height - top + 2}" stroke="{AXIS}"/>']
    for i, (name, value) in enumerate(rows):
        y = top + i * row_h
        parts.append(f'<text x="{label_w - 6}" y="{_num(y + row_h / 2 + 4)}" text-anchor="end" fill="#1b1f24">'
                     f"<title>{_e(name)}</title>{_e(_truncate(str(name), 20))}</text>")
        if value is None:
            shown = "n/a"
        else:
            w = max(0.0, min(1.0, value / scale)) * bar_w
            parts.append(f'<rect class="bar" x="{label_w}" y="{y + 4}" width="{_num(w)}" height="{row_h - 8}" '
                         f'fill="{_e(color)}" data-value="{_e(value)}"><title>{_e(name)}: '
                         f"{_e(_format(value, percent))}</title></rect>")
            shown = _format(value, percent)
        x = label_w + (0 if value is None else max(0.0, min(1.0, value / scale)) * bar_w) + 6
        parts.append(f'<text x="{_num(x)}" y="{_num(y + row_h / 2 + 4)}" fill="#1b1f24">{_e(shown)}</text>')
    return _svg(width, height, title, "".join(parts))


def _format(value: float, percent: bool) -> str:
    if percent:
        return f"{value * 100:.0f}%"
    return f"{value:g}" if isinstance(value, float) else str(value)


def heatmap(labels: Sequence[str], matrix: Sequence[Sequence[int]], title: str, *,
            row_title: str = "final", col_title: str = "annotator") -> str:
    """A square count matrix as coloured cells: rows `labels` (`row_title`), columns `labels` (`col_title`).

    Cell colour scales with the count relative to the largest cell; the count is written in each cell.
    """
    labels = [str(x) for x in labels]
    n = len(labels)
    if n == 0 or len(matrix) != n or any(len(row) != n for row in matrix):
        return EMPTY.format(_e(f"{title}: nothing to show yet."))
    cell = 44 if n <= 10 else 28
    left, top = 110, 70
    width, height = left + cell * n + 10, top + cell * n + 10
    peak = max((c for row in matrix for c in row), default=0) or 1
    parts = [
        f'<text x="{_num(left + cell * n / 2)}" y="14" text-anchor="middle" fill="{AXIS}">{_e(col_title)} →</text>',
        f'<text x="10" y="{_num(top - 8)}" fill="{AXIS}">{_e(row_title)} ↓</text>',
    ]
    for j, name in enumerate(labels):
        x = left + j * cell + cell / 2
        parts.append(f'<text x="{_num(x)}" y="{top - 8}" text-anchor="middle" fill="#1b1f24">'
                     f"<title>{_e(name)}</title>{_e(_truncate(name, 6))}</text>")
    for i, name in enumerate(labels):
        y = top + i * cell
        parts.append(f'<text x="{left - 6}" y="{_num(y + cell / 2 + 4)}" text-anchor="end" fill="#1b1f24">'
                     f"<title>{_e(name)}</title>{_e(_truncate(name, 14))}</text>")
        for j, count in enumerate(matrix[i]):
            share = count / peak
            fill = _blend(share)
            ink = "#fff" if share > 0.55 else "#1b1f24"
            x = left + j * cell
            parts.append(f'<rect class="cell" x="{x}" y="{y}" width="{cell}" height="{cell}" fill="{fill}" '
                         f'stroke="#fff" data-count="{int(count)}"><title>{_e(row_title)} {_e(name)}, '
                         f"{_e(col_title)} {_e(labels[j])}: {int(count)}</title></rect>")
            parts.append(f'<text x="{_num(x + cell / 2)}" y="{_num(y + cell / 2 + 4)}" text-anchor="middle" '
                         f'fill="{ink}">{int(count)}</text>')
    return _svg(width, height, title, "".join(parts))


def _blend(share: float) -> str:
    """White (0) to the accent blue (1)."""
    share = max(0.0, min(1.0, share))
    lo, hi = (246, 248, 250), (11, 87, 208)
    r, g, b = (round(a + (z - a) * share) for a, z in zip(lo, hi, strict=True))
    return f"#{r:02x}{g:02x}{b:02x}"


# Series colours and dash patterns: told apart by more than colour.
SERIES = [("#0b57d0", ""), ("#b45309", "6 4"), ("#1a7f37", "2 3"), ("#8250df", "8 3 2 3")]


def _ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values covering [lo, hi]: steps of 1, 2 or 5 times a power of ten."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / count
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    start = math.floor(lo / step) * step
    ticks, k = [], 0
    while True:
        value = round(start + k * step, 10)
        ticks.append(value)
        if value >= hi:
            return ticks
        k += 1


def _tick_text(value: float, percent: bool) -> str:
    return f"{value * 100:.0f}%" if percent else f"{value:g}"


def line_chart(series: Sequence[tuple[str, Sequence[tuple[float, float | None, str]]]], title: str, *,
               x_title: str, y_title: str, y_max: float | None = None, percent: bool = False) -> str:
    """Lines through points (x, y, label), one line per named series, joined in the order given.

    Points of the first series carry their label above them (e.g. the model version); every point
    has a tooltip. A None y is left out. `y_max` fixes the top of the y axis (1.0 for shares),
    which starts at 0.
    """
    series = [(name, [(float(x), float(y), str(label)) for x, y, label in points if y is not None])
              for name, points in series]
    xs = [x for _, points in series for x, _, _ in points]
    if not xs:
        return EMPTY.format(_e(f"{title}: nothing to show yet."))
    left, right, top, bottom, plot_w, plot_h = 56, 16, 34, 44, 480, 220
    width, height = left + plot_w + right, top + plot_h + bottom
    x_ticks = _ticks(min(xs), max(xs)) if max(xs) > min(xs) else [min(xs) - 1, min(xs), min(xs) + 1]
    x_lo, x_hi = x_ticks[0], x_ticks[-1]
    y_top = y_max if y_max is not None else max(y for _, points in series for _, y, _ in points)
    y_ticks = _ticks(0.0, y_top if y_top > 0 else 1.0)
    y_hi = y_ticks[-1]

    def px(x: float) -> float:
        return left + (x - x_lo) / (x_hi - x_lo) * plot_w

    def py(y: float) -> float:
        return top + plot_h - max(0.0, min(1.0, y / y_hi)) * plot_h

    parts = []
    for t in y_ticks:
        parts.append(f'<line x1="{left}" y1="{_num(py(t))}" x2="{left + plot_w}" y2="{_num(py(t))}" '
                     f'stroke="#d0d7de"/><text x="{left - 6}" y="{_num(py(t) + 4)}" text-anchor="end" '
                     f'fill="{AXIS}">{_e(_tick_text(t, percent))}</text>')
    for t in x_ticks:
        parts.append(f'<line x1="{_num(px(t))}" y1="{top + plot_h}" x2="{_num(px(t))}" y2="{top + plot_h + 4}" '
                     f'stroke="{AXIS}"/><text x="{_num(px(t))}" y="{top + plot_h + 18}" text-anchor="middle" '
                     f'fill="{AXIS}">{_e(_tick_text(t, False))}</text>')
    parts.append(f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="{AXIS}"/>'
                 f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + plot_h}" stroke="{AXIS}"/>'
                 f'<text x="{_num(left + plot_w / 2)}" y="{height - 6}" text-anchor="middle" fill="{AXIS}">'
                 f"{_e(x_title)} →</text>"
                 f'<text x="4" y="{top - 20}" fill="{AXIS}">↑ {_e(y_title)}</text>')
    # Legend above the plot, right-aligned, in series order.
    legend_x = left + plot_w - sum(8 + 7 * len(name) + 26 for name, _ in series)
    for i, (name, points) in enumerate(series):
        color, dash = SERIES[i % len(SERIES)]
        dashes = f' stroke-dasharray="{dash}"' if dash else ""
        if len(points) > 1:
            path = " ".join(f"{_num(px(x))},{_num(py(y))}" for x, y, _ in points)
            parts.append(f'<polyline class="series" points="{path}" fill="none" stroke="{color}" '
                         f'stroke-width="2"{dashes}/>')
        for x, y, label in points:
            shown = _format(y, percent) if percent else f"{y:.3f}"
            parts.append(f'<circle class="point" cx="{_num(px(x))}" cy="{_num(py(y))}" r="4" fill="{color}" '
                         f'data-x="{_e(x)}" data-y="{_e(y)}"><title>{_e(label)}: {_e(name)} {_e(shown)} at '
                         f"{_e(x_title)} {_e(f'{x:g}')}</title></circle>")
            if i == 0:
                parts.append(f'<text class="point-label" x="{_num(px(x))}" y="{_num(py(y) - 8)}" '
                             f'text-anchor="middle" fill="#1b1f24">{_e(_truncate(label, 8))}</text>')
        parts.append(f'<line x1="{_num(legend_x)}" y1="{top - 20}" x2="{_num(legend_x + 20)}" y2="{top - 20}" '
                     f'stroke="{color}" stroke-width="2"{dashes}/><text x="{_num(legend_x + 24)}" '
                     f'y="{top - 16}" fill="#1b1f24">{_e(name)}</text>')
        legend_x += 8 + 7 * len(name) + 26
    return _svg(width, height, title, "".join(parts))


def calibration_chart(bins: Sequence[Mapping], title: str) -> str:
    """A reliability diagram: per confidence bin, a bar as high as the accuracy the model had there,
    a dot at (mean confidence, accuracy), and the diagonal where a calibrated model's dots would lie.

    `bins` are {"lower", "upper", "count", "confidence", "accuracy"}; empty bins are left out.
    """
    used = [b for b in bins if b.get("count") and b.get("accuracy") is not None and b.get("confidence") is not None]
    if not used:
        return EMPTY.format(_e(f"{title}: nothing to show yet."))
    left, right, top, bottom, side = 56, 16, 30, 44, 260
    width, height = left + side + right, top + side + bottom

    def px(v: float) -> float:
        return left + max(0.0, min(1.0, v)) * side

    def py(v: float) -> float:
        return top + side - max(0.0, min(1.0, v)) * side

    parts = []
    for t in (0.0, 0.2, 0.4, 0.6, 0.8, 1.0):
        parts.append(f'<line x1="{left}" y1="{_num(py(t))}" x2="{left + side}" y2="{_num(py(t))}" stroke="#d0d7de"/>'
                     f'<text x="{left - 6}" y="{_num(py(t) + 4)}" text-anchor="end" fill="{AXIS}">{t * 100:.0f}%</text>'
                     f'<text x="{_num(px(t))}" y="{top + side + 18}" text-anchor="middle" fill="{AXIS}">'
                     f"{t * 100:.0f}%</text>")
    for b in used:
        lower, upper = float(b["lower"]), float(b["upper"])
        acc, conf, count = float(b["accuracy"]), float(b["confidence"]), int(b["count"])
        tip = (f"confidence {lower * 100:.0f}–{upper * 100:.0f}%: {count} items, "
               f"mean confidence {conf * 100:.0f}%, accuracy {acc * 100:.0f}%")
        parts.append(f'<rect class="bin" x="{_num(px(lower) + 1)}" y="{_num(py(acc))}" '
                     f'width="{_num(max(0.0, px(upper) - px(lower) - 2))}" height="{_num(py(0) - py(acc))}" '
                     f'fill="#a8c7fa" data-count="{count}" data-accuracy="{_e(acc)}"><title>{_e(tip)}</title></rect>')
    parts.append(f'<line class="diagonal" x1="{_num(px(0))}" y1="{_num(py(0))}" x2="{_num(px(1))}" y2="{_num(py(1))}" '
                 f'stroke="{AXIS}" stroke-dasharray="4 4"><title>perfect calibration</title></line>')
    for b in used:
        acc, conf = float(b["accuracy"]), float(b["confidence"])
        parts.append(f'<circle class="point" cx="{_num(px(conf))}" cy="{_num(py(acc))}" r="4" fill="{BAR}" '
                     f'data-confidence="{_e(conf)}"><title>mean confidence {conf * 100:.0f}%, '
                     f"accuracy {acc * 100:.0f}%</title></circle>")
    parts.append(f'<line x1="{left}" y1="{top + side}" x2="{left + side}" y2="{top + side}" stroke="{AXIS}"/>'
                 f'<line x1="{left}" y1="{top}" x2="{left}" y2="{top + side}" stroke="{AXIS}"/>'
                 f'<text x="{_num(left + side / 2)}" y="{height - 6}" text-anchor="middle" fill="{AXIS}">'
                 f"model confidence →</text>"
                 f'<text x="4" y="{top - 14}" fill="{AXIS}">↑ accuracy</text>')
    return _svg(width, height, title, "".join(parts))

"""Server-rendered SVG charts for the dashboard: pure functions returning SVG markup.

Every text that comes from data (user names, labels) is XML-escaped; numbers are formatted here.
Each chart carries a <title> and role="img" with an aria-label, so it reads as a figure.
"""
from __future__ import annotations

from collections.abc import Sequence
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

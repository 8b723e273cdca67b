"""The briefing's charts as SVG text built in Python (no plotly.js, no browser): horizontal bars for the
closed-loop funnel and the stage times, columns for the seven-day trend. The PDF embeds them as vector
graphics (WeasyPrint draws inline SVG itself), so they print sharp at any size and cost a few KB."""

from __future__ import annotations

from html import escape

from components.theme import FONT, LIGHT

INK, MUTED, GRID = LIGHT["text"], LIGHT["muted"], LIGHT["grid"]
BLUE, ORANGE, GREEN = LIGHT["accent"], LIGHT["warn"], LIGHT["good"]
FONT_ATTR = escape(FONT, quote=True)


def _svg(width: float, height: float, body: list[str]) -> str:
    return (f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
            f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{FONT_ATTR}" font-size="10">'
            + "".join(body) + "</svg>")


def _text(x: float, y: float, s: str, anchor: str = "start", size: float = 10, fill: str = INK,
          weight: str = "normal") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" font-size="{size}" fill="{fill}" '
            f'font-weight="{weight}">{escape(s)}</text>')


def hbars(rows: list[tuple[str, float | None, str]], width: float = 300, bar_h: float = 14, gap: float = 6,
          label_w: float = 56, color: str = BLUE) -> str:
    """One horizontal bar per (label, value, value text); bars share one linear scale from 0."""
    top = max((v for _, v, _ in rows if v is not None), default=0) or 1
    span = width - label_w - 64
    body, y = [], 0.0
    for name, value, shown in rows:
        w = 0 if value is None else max(1.0, span * value / top)
        body.append(_text(label_w - 6, y + bar_h - 3, name, "end"))
        body.append(f'<rect x="{label_w}" y="{y:.1f}" width="{w:.1f}" height="{bar_h}" rx="2" fill="{color}"/>')
        body.append(_text(label_w + w + 4, y + bar_h - 3, shown, fill=MUTED))
        y += bar_h + gap
    return _svg(width, max(y - gap, bar_h), body)


def paired_hbars(rows: list[tuple[str, float | None, float | None, str]], legend: tuple[str, str],
                 width: float = 300, bar_h: float = 8, label_w: float = 56) -> str:
    """Two bars per row (e.g. median and p90 of a stage) on one scale; the row's text after the longer bar."""
    top = max((v for _, a, b, _ in rows for v in (a, b) if v is not None), default=0) or 1
    span = width - label_w - 110
    body = [f'<rect x="{label_w}" y="0" width="10" height="8" fill="{BLUE}"/>', _text(label_w + 14, 8, legend[0], size=9),
            f'<rect x="{label_w + 90}" y="0" width="10" height="8" fill="{ORANGE}"/>',
            _text(label_w + 104, 8, legend[1], size=9)]
    y = 16.0
    for name, a, b, shown in rows:
        wa = 0 if a is None else max(1.0, span * a / top)
        wb = 0 if b is None else max(1.0, span * b / top)
        body.append(_text(label_w - 6, y + 2 * bar_h - 2, name, "end"))
        body.append(f'<rect x="{label_w}" y="{y:.1f}" width="{wa:.1f}" height="{bar_h}" fill="{BLUE}"/>')
        body.append(f'<rect x="{label_w}" y="{y + bar_h + 1:.1f}" width="{wb:.1f}" height="{bar_h}" fill="{ORANGE}"/>')
        body.append(_text(label_w + max(wa, wb) + 4, y + 2 * bar_h - 2, shown, fill=MUTED, size=9))
        y += 2 * bar_h + 8
    return _svg(width, y - 6, body)


def columns(days: list[str], series: list[tuple[str, list[float | None], str]], width: float = 300,
            height: float = 120) -> str:
    """Grouped columns per day (e.g. reported and closed) on one scale, with a legend and the values on top."""
    bottom, left = height - 16, 4.0
    top = max((v for _, vals, _ in series for v in vals if v is not None), default=0) or 1
    plot_h = bottom - 26
    slot = (width - left) / max(len(days), 1)
    bar_w = min(24.0, (slot - 10) / max(len(series), 1))
    body = [f'<line x1="{left}" y1="{bottom}" x2="{width}" y2="{bottom}" stroke="{GRID}"/>']
    lx = left
    for name, _, color in series:
        body += [f'<rect x="{lx:.1f}" y="0" width="10" height="8" fill="{color}"/>', _text(lx + 14, 8, name, size=9)]
        lx += 24 + 10 * len(name)
    for i, d in enumerate(days):
        x0 = left + i * slot + (slot - bar_w * len(series)) / 2
        for j, (_, vals, color) in enumerate(series):
            v = vals[i]
            h = 0 if v is None else plot_h * v / top
            x = x0 + j * bar_w
            body.append(f'<rect x="{x:.1f}" y="{bottom - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" fill="{color}"/>')
            if v is not None:
                body.append(_text(x + bar_w / 2 - 1, bottom - h - 2, f"{v:,.0f}", "middle", size=6.5, fill=MUTED))
        body.append(_text(left + i * slot + slot / 2, height - 4, d, "middle", size=8, fill=MUTED))
    return _svg(width, height, body)

"""Small inline SVG charts for self-contained HTML reports: no script, no network, no fonts.

Values are integers in minor units; axis labels show major units. Geometry is float (pixels),
never the figures themselves, which are printed from the integers.
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

BASE_COLOR, CAND_COLOR = "#7f8c8d", "#2e86de"
WIDTH = 960


def money_label(units: int) -> str:
    sign = "-" if units < 0 else ""
    units = abs(units)
    return f"{sign}{units // 100:,}.{units % 100:02d}"


def _nice_max(v: int) -> int:
    if v <= 0:
        return 100
    step = 1
    while step * 10 <= v:
        step *= 10
    for m in (1, 2, 5, 10):
        if m * step >= v:
            return m * step
    return 10 * step


def hbars(labels: list[str], series: list[tuple[str, str, list[int]]], title: str,
          fmt=money_label) -> str:
    """Grouped horizontal bars, one group per label, one bar per series."""
    left, right, bar, gap, top = 230, 120, 9, 8, 46
    group = bar * len(series) + gap
    height = top + group * len(labels) + 30
    vmax = _nice_max(max([v for _, _, vals in series for v in vals] + [1]))
    span = WIDTH - left - right
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(title)}</text>']
    for i, (name, color, _) in enumerate(series):
        x = left + i * 160
        out.append(f'<rect x="{x}" y="28" width="12" height="10" fill="{color}"/>'
                   f'<text x="{x + 16}" y="37" font-size="12">{escape(name)}</text>')
    for g, label in enumerate(labels):
        y0 = top + g * group
        out.append(f'<text x="{left - 6}" y="{y0 + group / 2:.1f}" font-size="11" '
                   f'text-anchor="end">{escape(label)}</text>')
        for s, (_, color, vals) in enumerate(series):
            v = vals[g]
            w = max(v, 0) / vmax * span
            y = y0 + s * bar
            out.append(f'<rect x="{left}" y="{y}" width="{w:.1f}" height="{bar - 1}" '
                       f'fill="{color}"><title>{escape(label)}: {fmt(v)}</title></rect>')
            out.append(f'<text x="{left + w + 4:.1f}" y="{y + bar - 1}" font-size="9">'
                       f'{fmt(v)}</text>')
    out.append(f'<line x1="{left}" y1="{top - 4}" x2="{left}" y2="{height - 26}" '
               'stroke="#333"/>')
    out.append("</svg>")
    return "".join(out)


def lines(days: list[str], series: list[tuple[str, str, list[int]]], title: str,
          hlines: Sequence[tuple[str, int, str]] = (),
          markers: Sequence[tuple[int, str, str]] = ()
          ) -> str:
    """Lines over days; `hlines` (label, value, color) such as a budget; `markers`
    (day index, label, color) such as the day a budget runs out."""
    left, right, top, bottom, height = 110, 30, 50, 60, 340
    vmax = _nice_max(max([v for _, _, vals in series for v in vals]
                         + [v for _, v, _ in hlines] + [1]))
    span_x = WIDTH - left - right
    span_y = height - top - bottom
    n = max(len(days) - 1, 1)

    def px(i: int) -> float:
        return left + i / n * span_x

    def py(v: int) -> float:
        return top + span_y - max(v, 0) / vmax * span_y

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
           f'viewBox="0 0 {WIDTH} {height}" role="img" aria-label="{escape(title)}">',
           f'<text x="10" y="20" font-size="15" font-weight="bold">{escape(title)}</text>']
    for i, (name, color, _) in enumerate(series):
        x = left + i * 200
        out.append(f'<rect x="{x}" y="28" width="12" height="10" fill="{color}"/>'
                   f'<text x="{x + 16}" y="37" font-size="12">{escape(name)}</text>')
    for k in range(5):
        v = vmax * k // 4
        y = py(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" '
                   f'stroke="#ddd"/><text x="{left - 6}" y="{y + 4:.1f}" font-size="10" '
                   f'text-anchor="end">{money_label(v)}</text>')
    step = max(1, len(days) // 10)
    for i in range(0, len(days), step):
        out.append(f'<text x="{px(i):.1f}" y="{height - bottom + 16}" font-size="10" '
                   f'text-anchor="middle">{escape(days[i][5:])}</text>')
    for label, v, color in hlines:
        y = py(v)
        out.append(f'<line x1="{left}" y1="{y:.1f}" x2="{WIDTH - right}" y2="{y:.1f}" '
                   f'stroke="{color}" stroke-dasharray="6 4"/><text x="{WIDTH - right}" '
                   f'y="{y - 4:.1f}" font-size="11" text-anchor="end" fill="{color}">'
                   f'{escape(label)} {money_label(v)}</text>')
    for _, color, vals in series:
        if not vals:
            continue
        pts = " ".join(f"{px(i):.1f},{py(v):.1f}" for i, v in enumerate(vals))
        out.append(f'<polyline fill="none" stroke="{color}" stroke-width="2" points="{pts}"/>')
    for i, label, color in markers:
        mx = px(i)
        anchor, tx = ("end", mx - 3) if mx > WIDTH * 0.6 else ("start", mx + 3)
        out.append(f'<line x1="{mx:.1f}" y1="{top}" x2="{mx:.1f}" y2="{height - bottom}" '
                   f'stroke="{color}" stroke-width="1.5"/><text x="{tx:.1f}" '
                   f'y="{top + 12}" font-size="11" text-anchor="{anchor}" fill="{color}">'
                   f'{escape(label)}</text>')
    out.append(f'<line x1="{left}" y1="{top + span_y}" x2="{WIDTH - right}" '
               f'y2="{top + span_y}" stroke="#333"/>')
    out.append("</svg>")
    return "".join(out)

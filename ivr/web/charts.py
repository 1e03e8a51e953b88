"""Server-rendered SVG charts (no JavaScript, no CDN): vertical bars and horizontal bars.
Every text goes through markupsafe.escape."""
from __future__ import annotations

from markupsafe import Markup, escape

COLORS = ("#0b3d91", "#2f80ed", "#27ae60", "#f2994a", "#eb5757", "#9b51e0", "#56ccf2", "#6fcf97")


def _fmt(v, percent: bool) -> str:
    if v is None:
        return "-"
    return f"{v * 100:.0f}%" if percent else (f"{v:,.0f}" if isinstance(v, (int, float)) else str(v))


def bars(labels: list[str], values: list[float | None], *, title: str = "", percent: bool = False,
         width: int = 560, height: int = 200, color: str = COLORS[0]) -> Markup:
    n = max(1, len(values))
    top = max([v for v in values if v is not None] or [0]) or 1
    if percent:
        top = max(top, 0.0001)
    pad_l, pad_b, pad_t = 36, 36, 22
    plot_h = height - pad_b - pad_t
    slot = (width - pad_l - 8) / n
    bw = min(48.0, max(2.0, slot * 0.7))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-label="{escape(title)}">',
             f'<text x="{pad_l}" y="14" font-size="12" font-weight="bold">{escape(title)}</text>',
             f'<line x1="{pad_l}" y1="{height - pad_b}" x2="{width - 4}" y2="{height - pad_b}" stroke="#999"/>',
             f'<text x="{pad_l - 4}" y="{pad_t + 8}" font-size="10" text-anchor="end">{escape(_fmt(top, percent))}</text>']
    step = max(1, n // 12)
    for i, (lab, v) in enumerate(zip(labels, values)):
        x = pad_l + i * slot + (slot - bw) / 2
        h = 0 if v is None else plot_h * v / top
        y = height - pad_b - h
        parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{bw:.1f}" height="{h:.1f}" fill="{color}">'
                     f'<title>{escape(lab)}: {escape(_fmt(v, percent))}</title></rect>')
        if n <= 16:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{y - 3:.1f}" font-size="9" text-anchor="middle">'
                         f'{escape(_fmt(v, percent))}</text>')
        if i % step == 0:
            parts.append(f'<text x="{x + bw / 2:.1f}" y="{height - pad_b + 14}" font-size="9" text-anchor="middle">'
                         f'{escape(lab)}</text>')
    parts.append("</svg>")
    return Markup("".join(parts))


def hbars(items: list[tuple[str, float]], *, title: str = "", width: int = 560) -> Markup:
    """Horizontal bars with counts and shares (e.g. failure reasons)."""
    total = sum(v for _, v in items) or 1
    top = max([v for _, v in items] or [1]) or 1
    row, pad_l = 20, 170
    height = 26 + row * max(1, len(items))
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" aria-label="{escape(title)}">',
             f'<text x="4" y="14" font-size="12" font-weight="bold">{escape(title)}</text>']
    for i, (lab, v) in enumerate(items):
        y = 22 + i * row
        w = (width - pad_l - 90) * v / top
        parts.append(f'<text x="{pad_l - 6}" y="{y + 13}" font-size="11" text-anchor="end">{escape(lab)}</text>'
                     f'<rect x="{pad_l}" y="{y + 2}" width="{w:.1f}" height="{row - 6}" fill="{COLORS[i % len(COLORS)]}"/>'
                     f'<text x="{pad_l + w + 4:.1f}" y="{y + 13}" font-size="11">{v:,.0f} ({100 * v / total:.0f}%)</text>')
    parts.append("</svg>")
    return Markup("".join(parts))

"""Charts drawn on the server as inline SVG: no JavaScript, nothing fetched from elsewhere.

Each chart is an ``<svg role="img">`` named by its ``<title>`` and summed up by its
``<desc>`` (what a screen reader says), with one bar per value and that value in the bar's
own ``<title>`` (a pointer's tooltip). The page puts a plain table of the same numbers
beside it, so nothing is only in the picture. Colours come from admin.css (``.chart``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from markupsafe import Markup, escape

# The drawing's own units: a card is 300-400 px wide, so a unit is about a pixel and the
# 14-unit text stays readable at 375 px.
WIDTH, HEIGHT = 400, 180
EMPTY_HEIGHT = 40
LEFT, RIGHT, TOP, BOTTOM = 4, 4, 24, 26  # room for the scale above and the days below
ROW = 28  # a horizontal bar's height, its gap included


def _number(value: float) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _svg(ident: str, title: str, desc: str, height: int, body: list[str]) -> Markup:
    return Markup(
        f'<svg class="chart" id="{escape(ident)}" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'aria-labelledby="{escape(ident)}-title {escape(ident)}-desc" '
        f'xmlns="http://www.w3.org/2000/svg">'
        f'<title id="{escape(ident)}-title">{escape(title)}</title>'
        f'<desc id="{escape(ident)}-desc">{escape(desc)}</desc>' + "".join(body) + "</svg>")


def bars(ident: str, title: str, points: Sequence[tuple[str, float | None]], *,
         say: Callable[[float], str] = _number) -> Markup:
    """Vertical bars, one per point ``(label, value)`` in order; a point whose value is
    None (not known) gets no bar. ``say`` writes a value for people (``€12.50``)."""
    known = [(label, value) for label, value in points if value is not None]
    if not known:
        return _svg(ident, title, "No numbers for this range yet.", EMPTY_HEIGHT,
                    [f'<text class="note" x="{LEFT}" y="24">No numbers for this range yet'
                     "</text>"])
    top = max(value for _, value in known)
    peak = next(label for label, value in known if value == top)
    desc = (f"{len(known)} of {len(points)} values, from {points[0][0]} to {points[-1][0]}; "
            f"highest {say(top)} ({peak}), total {say(sum(v for _, v in known))}.")
    plot_w, plot_h = WIDTH - LEFT - RIGHT, HEIGHT - TOP - BOTTOM
    slot = plot_w / len(points)
    width = max(slot * 0.8, 1.0)
    base = TOP + plot_h
    body = [f'<text class="scale" x="{LEFT}" y="{TOP - 8}">{escape(say(top))}</text>',
            f'<line class="axis" x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}"/>']
    for n, (label, value) in enumerate(points):
        if value is None:
            continue
        h = plot_h * value / top if top > 0 else 0
        x = LEFT + n * slot + (slot - width) / 2
        body.append(f'<rect class="bar" x="{x:.1f}" y="{base - h:.1f}" width="{width:.1f}" '
                    f'height="{h:.1f}"><title>{escape(label)}: {escape(say(value))}</title>'
                    f'</rect>')
    body.append(f'<text class="label" x="{LEFT}" y="{HEIGHT - 8}">'
                f'{escape(points[0][0])}</text>')
    if len(points) > 1:
        body.append(f'<text class="label" x="{WIDTH - RIGHT}" y="{HEIGHT - 8}" '
                    f'text-anchor="end">{escape(points[-1][0])}</text>')
    return _svg(ident, title, desc, HEIGHT, body)


def ranking(ident: str, title: str, items: Sequence[tuple[str, float]], *,
            say: Callable[[float], str] = _number) -> Markup:
    """Horizontal bars, one per ``(label, value)``, largest first as given, each labelled."""
    if not items:
        return _svg(ident, title, "Nothing to rank in this range yet.", EMPTY_HEIGHT,
                    [f'<text class="note" x="{LEFT}" y="24">Nothing to rank in this range yet'
                     "</text>"])
    top = max(value for _, value in items) or 1
    desc = "; ".join(f"{label}: {say(value)}" for label, value in items) + "."
    height = 4 + ROW * len(items)
    plot_w = WIDTH - LEFT - RIGHT
    body = []
    for n, (label, value) in enumerate(items):
        y = 4 + n * ROW
        w = max(plot_w * value / top, 1.0)
        body.append(f'<rect class="bar rank" x="{LEFT}" y="{y}" width="{w:.1f}" height="{ROW - 6}">'
                    f'<title>{escape(label)}: {escape(say(value))}</title></rect>')
        body.append(f'<text class="label on-bar" x="{LEFT + 6}" y="{y + ROW - 12}">'
                    f'{escape(label)} ({escape(say(value))})</text>')
    return _svg(ident, title, desc, height, body)

# History bar charts drawn by the meter as inline SVG from the journal's Wh rollups.
# All bars are one <path> (the newest, still-filling slot is a second one), so a 30-bar
# chart costs about a kilobyte. Colours come from the page's stylesheet (.bar, .cur).
from micropython import const

from web.view import kwh

_H = const(100)      # viewBox height
_TOP = const(14)     # room for the peak label
_BASE = const(86)    # bar baseline; labels below it


def svg(vals, title, first, last):
    """vals: Wh per slot, oldest first, the last one the current (partial) slot."""
    n = len(vals)
    bw = 240 // n if n else 8
    w = bw * n if n else 240
    peak = max(vals) if n else 0
    total = sum(vals) if n else 0
    scale = peak if peak > 0 else 1
    yield ('<svg viewBox="0 0 %d %d" role="img" aria-label="%s: %s kWh in total, '
           'peak %s kWh">' % (w, _H, title, kwh(total), kwh(peak)))
    p = []
    for k in range(n - 1):
        h = vals[k] * (_BASE - _TOP) // scale
        if h > 0:
            p.append("M%d %dh%dv%dh%dz" % (k * bw + 1, _BASE, bw - 2, -h, 2 - bw))
    yield '<path class="bar" d="%s"/>' % "".join(p)
    if n:
        h = vals[-1] * (_BASE - _TOP) // scale
        yield '<path class="cur" d="M%d %dh%dv%dh%dz"/>' % ((n - 1) * bw + 1, _BASE, bw - 2,
                                                             -h, 2 - bw)
    yield ('<path class="axis" d="M0 %d.5H%d"/><text x="0" y="10">peak %s kWh</text>'
           '<text x="0" y="98">%s</text><text x="%d" y="98" text-anchor="end">%s</text>'
           '</svg>' % (_BASE, w, kwh(peak), first, w, last))


def day(m):
    j = m.journal
    return svg(j.hourly(24) if j else [], "Last 24 hours", "24 h ago", "now")


def month(m):
    j = m.journal
    return svg(j.daily(30) if j else [], "Last 30 days", "30 days ago", "today")

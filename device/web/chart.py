# History charts drawn by the meter from the energy history (Wh per hour and day): 24 hours
# by hour and 30 days by day. The bars (and the time-of-use shading of the 24 h chart) are one SVG that
# stretches to the card; every word and number around it (the y axis, the x ticks, the
# summary, the table) is HTML, so its size follows the page's type scale, not the chart's
# width. The caption is the chart's text summary; the table inside <details> opens without
# JavaScript.
from micropython import const

from web.view import day_month, esc, hours, kwh, words

_W = const(10)     # viewBox units per slot
_H = const(100)    # viewBox height
_TICKS = const(6)  # slots per x tick: 4 ticks a day, 5 a month


def top_of(peak):
    """The y axis's top: the peak rounded up to 1, 2 or 5 times a power of ten Wh (at least
    100 Wh, so an idle meter's chart still has a scale)."""
    step = 100
    while True:
        for k in (1, 2, 5):
            if step * k >= peak:
                return step * k
        step *= 10


def svg(vals, shade=None, ns=""):
    """The bars: vals are Wh per slot, oldest first, the last the current (partial) slot;
    shade[k] is "hi", "lo" or "" (time-of-use band) per slot. ns: the xmlns attribute a
    standalone SVG file needs (inline in HTML it is implied)."""
    n = len(vals)
    top = top_of(max(vals) if n else 0)
    yield ('<svg %sviewBox="0 0 %d %d" preserveAspectRatio="none" aria-hidden="true">'
           % (ns, n * _W or _W, _H))
    for cls in ("hi", "lo"):
        if shade and cls in shade:
            p = []
            k = 0
            while k < n:          # one rectangle per run of hours in the band
                j = k
                while j < n and shade[j] == cls:
                    j += 1
                if j > k:
                    p.append("M%d 0h%dv%dh-%dz" % (k * _W, (j - k) * _W, _H, (j - k) * _W))
                k = j + 1 if j == k else j
            yield '<path class="%s" d="%s"/>' % (cls, "".join(p))
    yield ('<path class="grid-l" vector-effect="non-scaling-stroke" '
           'd="M0 .5H%d M0 50H%d M0 99.5H%d"/>' % (n * _W, n * _W, n * _W))
    p = []
    for k in range(n - 1):
        h = vals[k] * _H // top
        if h > 0:
            p.append("M%d %dh%dv%dh-%dz" % (k * _W + 1, _H, _W - 2, -h, _W - 2))
    yield '<path class="bar" d="%s"/>' % "".join(p)
    if n:
        h = vals[-1] * _H // top
        yield '<path class="cur" d="M%d %dh%dv%dh-%dz"/>' % ((n - 1) * _W + 1, _H, _W - 2, -h,
                                                             _W - 2)
    yield "</svg>"


def figure(vals, label, w, shade=None, legend=""):
    """The whole chart: y axis, bars, x ticks, text summary and a table view. label(k) is
    slot k's time in words."""
    n = len(vals)
    peak = max(vals) if n else 0
    top = top_of(peak)
    yield ('<figure class="ch"><div class="y" aria-hidden="true"><span>%s %s</span>'
           '<span>%s</span><span>0</span></div>' % (kwh(top), w["chart.kwh"], kwh(top // 2)))
    for piece in svg(vals, shade):
        yield piece
    yield '<div class="x" aria-hidden="true">'
    for k in range(0, n, _TICKS):
        yield "<span>%s</span>" % label(k)
    if peak:
        cap = w["chart.sum"] % (kwh(sum(vals)), kwh(peak), label(vals.index(peak)))
    else:
        cap = w["chart.empty"]
    yield "</div><figcaption>%s %s</figcaption>" % (esc(cap), esc(legend))
    yield ('<details><summary>%s</summary><table><tr><th>%s<th>%s'
           % (w["chart.table"], w["chart.when"], w["chart.kwh"]))
    for k in range(n):            # (end tags of cells and rows are optional in HTML)
        yield "<tr><td>%s<td>%s" % (label(k), kwh(vals[k]))
    yield "</table></details></figure>"


def _words(lang, more=()):
    return words(("chart.kwh", "chart.table", "chart.when", "chart.sum", "chart.empty") + more, lang)


def _local(m):
    return m.board.time() + m.cfg["meter.utc_offset_min"] * 60


def _shade(m, now_h, n, w, lang):
    """Time-of-use band of each of the last n hours: "hi" at the dearest rate, "lo" at the
    cheapest, "" otherwise or without a clock or a time-of-use tariff; and the legend."""
    tar = m.credit.tariff if m.credit else None
    if not tar or tar.max_rate == tar.min_rate or not m.board.rtc_valid():
        return None, ""
    out = []
    for k in range(n):
        r = tar.rate((now_h - n + 1 + k) * 3600)
        out.append("hi" if r == tar.max_rate else "lo" if r == tar.min_rate else "")
    hi = tar.names[tar.rates.index(tar.max_rate)]
    lo = tar.names[tar.rates.index(tar.min_rate)]
    tw = words(("chart.shade", "tou." + hi, "tou." + lo), lang)
    return out, tw["chart.shade"] % (tw.get("tou." + hi, hi), tw.get("tou." + lo, lo))


def _hours(m):
    h = m.history
    return h.hourly(24) if h else []


def _days(m):
    h = m.history
    return h.daily(30) if h else []


def day(m, lang="en"):
    vals = _hours(m)
    now_h = _local(m) // 3600
    n = len(vals)
    w = _words(lang)
    shade, legend = _shade(m, now_h, n, w, lang)
    return figure(vals, lambda k: hours((now_h - n + 1 + k) * 3600), w, shade, legend)


def month(m, lang="en"):
    vals = _days(m)
    today = _local(m) // 86400
    n = len(vals)
    return figure(vals, lambda k: day_month((today - n + 1 + k) * 86400), _words(lang))


_NS = 'xmlns="http://www.w3.org/2000/svg" '


def day_svg(m):
    vals = _hours(m)
    shade, _ = _shade(m, _local(m) // 3600, len(vals), None, "en")
    return svg(vals, shade, _NS)


def month_svg(m):
    return svg(_days(m), None, _NS)

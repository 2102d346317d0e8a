# The event list in plain words (the page's "Recent events" and /api/events): times in
# local time and phrases from words.txt. Loaded per request and dropped after
# (web.app._use): events are looked at far less often than the live values are polled.
from web.view import words, money


def when(t, now, cfg):
    """Local 'HH:MM' today, else 'D/M HH:MM' (integer date maths: no epoch quirks)."""
    off = cfg["meter.utc_offset_min"] * 60
    lt = t + off
    hm = "%02d:%02d" % (lt % 86400 // 3600, lt % 3600 // 60)
    if lt // 86400 == (now + off) // 86400:
        return hm
    z = lt // 86400 + 719468  # civil-from-days (H. Hinnant)
    doe = z % 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    mo = mp + 3 if mp < 10 else mp - 9
    return "%d/%d %s" % (doy - (153 * mp + 2) // 5 + 1, mo, hm)


def event_text(m, ev, w):
    """Plain words for an event: the kind (refined by its result/state) from words.txt,
    then the few fields a consumer cares about."""
    kind = _ev_key(ev)
    out = [w.get("ev." + kind, kind.replace("_", " ").replace(".", ": "))]
    r = ev.get("reason")
    if r and r != "ok":
        out.append("(" + w.get("why." + str(r), str(r)).split(".")[0].split(":")[0].lower() + ")")
    amt = ev.get("amount") if ev.get("kind") != "low_credit" else ev.get("credit")
    if isinstance(amt, int) and amt:
        out[0] += ": " + money(m, amt)
    for k in ("action", "what", "state", "keys", "error"):
        if k in ev:
            out.append(str(ev[k]))
    return " ".join(out)


def _ev_key(ev):
    kind = ev.get("kind", "?")
    if "closed" in ev:
        return kind + (".1" if ev["closed"] else ".0")
    if "result" in ev:
        return kind + "." + str(ev["result"])
    return kind


def events(m, n):
    """The n newest events with their time and plain words; only the phrases they need
    are read from flash."""
    now = m.board.time()
    evs = m.events.recent(n)
    keys = []
    for ev in evs:
        keys.append("ev." + _ev_key(ev))
        if ev.get("reason"):
            keys.append("why." + str(ev["reason"]))
    w = words(keys)
    out = []
    for ev in evs:
        e = dict(ev)
        e["at"] = when(ev["t"], now, m.cfg)
        e["text"] = event_text(m, ev, w)
        out.append(e)
    return out

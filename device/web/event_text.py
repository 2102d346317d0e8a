# The event list in plain words (the page's "Recent events" and /api/events): times in
# local time and phrases from words.<lang>.txt, in the request's language.
from web.view import day_month, words, money


def when(t, now, cfg):
    """Local 'HH:MM' today, else 'D/M HH:MM' (integer date maths: no epoch quirks)."""
    off = cfg["meter.utc_offset_min"] * 60
    lt = t + off
    hm = "%02d:%02d" % (lt % 86400 // 3600, lt % 3600 // 60)
    if lt // 86400 == (now + off) // 86400:
        return hm
    return "%s %s" % (day_month(lt), hm)


def event_text(m, ev, w):
    """Plain words for an event: the kind (refined by its result/state) from the catalogue,
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
            v = str(ev[k])
            out.append(w.get("pq." + v, v) if k == "what" else v)   # a supply quality kind
    return " ".join(out)


def _ev_key(ev):
    kind = ev.get("kind", "?")
    if "closed" in ev:
        return kind + (".1" if ev["closed"] else ".0")
    if "result" in ev:
        return kind + "." + str(ev["result"])
    return kind


def topups(m, lang, n=5):
    """The n newest accepted top-ups still in the event log: time, amount and how each
    arrived (typed on the page, or sent by the utility over MQTT), in words."""
    now = m.board.time()
    w = words(("via.keypad", "via.remote"), lang)
    out = []
    for ev in m.events.recent():
        if ev.get("kind") == "token" and ev.get("result") == "accepted" and ev.get("amount"):
            via = w["via.remote" if ev.get("remote") else "via.keypad"]
            out.append({"t": ev["t"], "at": when(ev["t"], now, m.cfg), "amount": ev["amount"],
                        "remote": bool(ev.get("remote")),
                        "text": "%s (%s)" % (money(m, ev["amount"]), via)})
            if len(out) == n:
                break
    return out


def events(m, n, lang="en"):
    """The n newest events with their time and plain words; only the phrases they need
    are read from flash, in one language."""
    now = m.board.time()
    evs = m.events.recent(n)
    keys = []
    for ev in evs:
        keys.append("ev." + _ev_key(ev))
        if ev.get("reason"):
            keys.append("why." + str(ev["reason"]))
        if ev.get("what"):
            keys.append("pq." + str(ev["what"]))
    w = words(keys, lang)
    out = []
    for ev in evs:
        e = dict(ev)
        e["at"] = when(ev["t"], now, m.cfg)
        e["text"] = event_text(m, ev, w)
        out.append(e)
    return out

# What the consumer sees, in words: one flat {element id: text} view of the meter, built
# once here and used both by the server-side page (works with JavaScript off) and by
# /api/live (the page's script copies it into the same elements). Keys ending in "_c" are
# CSS classes (warning colours), "_h" hide an element. Money is integer minor units to the
# last step; only this module turns it into text.

_SYM = {"INR": "\u20b9", "USD": "$", "EUR": "\u20ac", "GBP": "\u00a3"}
_MON = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")

# relay reason -> plain words; %d is the power-limit retry countdown
WHY = {
    "ok": "Supply on.",
    "no_credit": "Out of credit. Top up to restore supply.",
    "power_limit": "Power limit exceeded: too much load. Retrying in %d s.",
    "gave_up": "Power limit tripped repeatedly. Reduce the load, then press Reconnect.",
    "friendly": "Friendly hours: no disconnection now; use is added as debt.",
    "confirm": "Credit restored. Press Reconnect to switch the supply on.",
    "manual": "Switched manually by the meter owner.",
    "config": "Meter not configured: supply held off (see the errors above).",
}

# token results -> plain words (the page, the API and scripts all get these)
TOKEN = {
    "accepted": "Accepted: %s added.",
    "used": "This code was already used.",
    "old": "This code is too old: a newer code was already entered.",
    "invalid": "Invalid code. Check the digits and try again.",
    "locked": "Too many wrong codes. Locked: try again in %d s.",
    "format": "A top-up code has 9 to 15 digits.",
}

# event kind -> words; events carry their own fields, shown after these words
_EV = {
    "relay": "Supply switched",
    "token": "Top-up",
    "topup": "Top-up",
    "token_rejected": "Top-up code rejected",
    "emergency": "Emergency credit activated",
    "power_limit": "Power limit trip",
    "low_credit": "Low credit",
    "boot": "Meter started",
    "outage": "Power outage",
    "anomaly": "Meter anomaly",
    "gap": "Journal gap",
    "task_restart": "Internal restart",
    "settings": "Settings changed",
    "manual": "Manual relay override",
    "time_sync": "Clock set",
}


def esc(s):
    """HTML-escape text for element content and attribute values."""
    s = str(s)
    if "&" in s:
        s = s.replace("&", "&amp;")
    if "<" in s:
        s = s.replace("<", "&lt;")
    if ">" in s:
        s = s.replace(">", "&gt;")
    if '"' in s:
        s = s.replace('"', "&quot;")
    return s


def money(minor, cfg):
    mpm = cfg["meter.minor_per_major"]
    cur = cfg["meter.currency"]
    neg = minor < 0
    m = -minor if neg else minor
    if mpm > 1:
        d = len(str(mpm)) - 1
        f = str(m % mpm)
        s = "%d.%s" % (m // mpm, "0" * (d - len(f)) + f)
    else:
        s = str(m)
    sym = _SYM.get(cur)
    s = (sym + s) if sym else (cur + " " + s)
    return ("-" + s) if neg else s


def kwh(wh):
    return "%d.%02d" % (wh // 1000, wh % 1000 // 10)


def civil(days):
    """Days since 1970-01-01 -> (year, month, day); integer-only (no epoch quirks)."""
    z = days + 719468
    era = z // 146097
    doe = z - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    d = doy - (153 * mp + 2) // 5 + 1
    m = mp + 3 if mp < 10 else mp - 9
    return yoe + era * 400 + (m <= 2), m, d


def when(t, now, cfg):
    """Local 'HH:MM' today, else 'D Mon HH:MM'."""
    off = cfg["meter.utc_offset_min"] * 60
    lt, ln = t + off, now + off
    hm = "%02d:%02d" % (lt % 86400 // 3600, lt % 3600 // 60)
    if lt // 86400 == ln // 86400:
        return hm
    _, mo, d = civil(lt // 86400)
    return "%d %s %s" % (d, _MON[mo - 1], hm)


def snapshot(m):
    c = m.credit
    return c.snapshot() if c else {}


def relay_why(m, snap):
    if m.errors or not m.credit:
        return "config"
    return snap.get("relay_reason") or m.credit.relay_reason


def relay_text(m, snap):
    why = relay_why(m, snap)
    w = WHY.get(why, why)
    if "%d" in w:
        w = w % (snap.get("retry_in_s") or getattr(m.credit, "retry_in_s", 0) or 0)
    return w


def event_text(ev, cfg):
    kind = ev.get("kind", "?")
    words = [_EV.get(kind, kind.replace("_", " "))]
    for k in ev:
        if k in ("t", "kind"):
            continue
        v = ev[k]
        if k == "closed":
            words.append("on" if v else "off")
        elif k == "reason":
            words.append("(" + WHY.get(v, str(v)).split(".")[0].lower() + ")")
        elif k in ("amount", "credit", "debt") and isinstance(v, int):
            words.append("%s %s" % (k, money(v, cfg)))
        else:
            words.append("%s %s" % (k, v))
    return " ".join(words)


def events(m, n):
    now = m.board.time()
    out = []
    for ev in m.events.recent(n):
        e = dict(ev)
        e["at"] = when(ev["t"], now, m.cfg)
        e["text"] = event_text(ev, m.cfg)
        out.append(e)
    return out


def energy(m):
    j = m.journal
    return {"wh": m.energy.wh, "today_wh": j.today_wh() if j else 0,
            "month_wh": j.month_wh() if j else 0}


def live(m, snap, en):
    """The flat display view: element id -> text (see the key conventions above)."""
    r = m.reading
    cfg = m.cfg
    closed = m.board.relay_closed()
    why = relay_why(m, snap)
    t = {
        "v": "%.1f" % r.v, "a": "%.2f" % r.i, "w": "%d" % int(r.p + 0.5), "pf": "%.2f" % r.pf,
        "hz": "%.1f" % r.hz, "today": kwh(en["today_wh"]), "month": kwh(en["month_wh"]),
        "relay": "Supply ON" if closed else "Supply OFF",
        "relay_c": "pill ok" if closed else "pill bad",
        "why": relay_text(m, snap),
        "why_c": "ok" if why == "ok" else ("warn" if closed else "bad"),
        "rstat": {"ok": "Live", "stale": "Not updating: no answer from the measuring chip",
                  "starting": "Starting"}.get(r.status, r.status),
        "rstat_c": "ok" if r.status == "ok" else "warn",
        "conform_h": why not in ("confirm", "gave_up"),
    }
    if snap:
        cr = snap.get("credit", 0)
        low = cr <= cfg["credit.low_warn"]
        days = snap.get("days_left")
        lowd = days is not None and days < cfg["credit.low_days"]
        t["credit"] = money(cr, cfg)
        t["credit_c"] = "big bad" if cr <= 0 else ("big warn" if low or lowd else "big")
        t["days"] = "unknown" if days is None else ("%d" % days)
        t["debt"] = money(snap.get("debt", 0), cfg)
        t["debt_c"] = "bad" if snap.get("debt", 0) > 0 else ""
        em_av = snap.get("emergency_available", 0)
        em_use = snap.get("emergency_in_use", 0)
        t["emerg"] = ("In use: " + money(em_use, cfg)) if em_use else (
            ("Available: " + money(em_av, cfg)) if em_av else "Not available")
        t["emform_h"] = not em_av
        t["emamt"] = money(em_av, cfg)
        lock = snap.get("lockout_s", 0)
        t["lock"] = (TOKEN["locked"] % lock) if lock else ""
        t["lock_h"] = not lock
        t["alert"] = ("Credit is out." if cr <= 0 else
                      "Low credit: top up soon." if low or lowd else "")
    else:
        t.update({"credit": "\u2013", "credit_c": "big", "days": "\u2013", "debt": "\u2013",
                  "debt_c": "", "emerg": "\u2013", "emform_h": True, "emamt": "",
                  "lock": "", "lock_h": True, "alert": ""})
    if r.status == "stale" and not t["alert"]:
        t["alert"] = "Readings are not updating."
    t["alert_h"] = not t["alert"]
    return t

# What the consumer sees, in words: one flat {element id: text} view of the meter, used both
# by the server-rendered page (works with JavaScript off) and by /api/live (the page's
# script copies it into the same elements). Keys ending in "_c" are CSS classes (warning
# colours), "_h" hide an element. Money stays integer minor units up to this formatting.
# The phrases live on flash (assets/words.txt), read per request, not held in RAM.
import os


def _assets():
    """Where the build put page.html, words.txt and the .gz files: beside this package when
    it is loaded from flash; www/ on flash when the firmware is frozen in; build/web/ when
    running from the source tree."""
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    for d in (here, "www", here + "/../../build/web"):
        try:
            os.stat(d + "/words.txt")
            return d
        except OSError:
            pass
    return here


ASSETS = _assets()


def words(keys=None):
    """{key: phrase} for the given keys (all when None), in one pass over the file."""
    w = {}
    with open(ASSETS + "/words.txt") as f:
        for ln in f:
            k, _, v = ln.rstrip("\n").partition(" ")
            if keys is None or k in keys:
                w[k] = v
    return w


def esc(s):
    """HTML-escape text for element content and attribute values."""
    s = str(s)
    for a, b in (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"), ('"', "&quot;")):
        if a in s:
            s = s.replace(a, b)
    return s


def money(m, minor):
    """One money format for the whole meter: the credit module's (integer arithmetic)."""
    return m.credit.money(minor) if m.credit else str(minor)


def kwh(wh):
    return "%d.%02d" % (wh // 1000, wh % 1000 // 10)


def why(m, snap):
    if m.errors or not m.credit:
        return "config"
    return snap.get("relay_reason") or m.credit.relay_reason


def relay_text(m, snap, w):
    r = why(m, snap)
    t = w.get("why." + r, r)
    return t % (snap.get("retry_in_s") or 0) if "%d" in t else t


def snapshot(m):
    return m.credit.snapshot() if m.credit else {}


def energy(m):
    j = m.journal
    return {"wh": m.energy.wh, "today_wh": j.today_wh() if j else 0,
            "month_wh": j.month_wh() if j else 0}


def live(m, snap, en):
    """The flat display view: element id -> text (see the key conventions above)."""
    r = m.reading
    closed = m.board.relay_closed()
    rw = why(m, snap)
    st = r.status
    cr = snap.get("credit", 0)
    days = snap.get("days_left")
    low = snap.get("low")
    debt = snap.get("debt", 0)
    ea = snap.get("emergency_available", 0)
    eu = snap.get("emergency_in_use", 0)
    lock = snap.get("lockout_s", 0)
    em = "em.use" if eu else "em.av" if ea else "em.none"
    al = ("al.out" if snap and cr <= 0 else "al.low" if low else
          "al.stale" if st == "stale" else "")
    on = "on" if closed else "off"
    w = words((on, "why." + rw, "st." + st, em, al, "tok.locked", "unknown"))
    t = {"v": "%.1f" % r.v, "a": "%.2f" % r.i, "w": "%d" % int(r.p + 0.5), "pf": "%.2f" % r.pf,
         "hz": "%.1f" % r.hz, "today": kwh(en["today_wh"]), "month": kwh(en["month_wh"]),
         "relay": w[on], "relay_c": "pill ok" if closed else "pill bad",
         "why": relay_text(m, snap, w),
         "why_c": "ok" if rw == "ok" else ("warn" if closed else "bad"),
         "rstat": w.get("st." + st, st), "rstat_c": "ok" if st == "ok" else "warn",
         "conform_h": rw not in ("confirm", "gave_up"),
         "credit": money(m, cr) if snap else "\u2013",
         "credit_c": "big bad" if snap and cr <= 0 else ("big warn" if low else "big"),
         "days": w["unknown"] if days is None else "%d" % days,
         "debt": money(m, debt), "debt_c": "bad" if debt > 0 else "",
         "emerg": w[em] % money(m, eu or ea) if "%" in w[em] else w[em],
         "emform_h": not ea, "emamt": money(m, ea),
         "lock": w["tok.locked"] % lock if lock else "", "lock_h": not lock,
         "alert": w[al] if al else "", "alert_h": not al}
    return t

# What the consumer sees, in words: one flat {element id: text} view of the meter, used both
# by the server-rendered page (works with JavaScript off) and by /api/live (the page's
# script copies it into the same elements). Keys ending in "_c" are CSS classes (warning
# colours), "_h" hide an element. Money stays integer minor units up to this formatting.
# The phrases live on flash (words.<lang>.txt, from the message catalogue assets/lang/),
# read per request for the request's language only, never held in RAM.
import os


def _assets():
    """Where the build put page.<lang>.html, words.<lang>.txt and the .gz files: beside this package when
    it is loaded from flash; www/ on flash when the firmware is frozen in; build/web/ when
    running from the source tree."""
    here = __file__.rsplit("/", 1)[0] if "/" in __file__ else "."
    for d in (here, "www", here + "/../../build/web"):
        try:
            os.stat(d + "/words.en.txt")
            return d
        except OSError:
            pass
    return here


ASSETS = _assets()


def _langs():
    """The shipped languages: one words.<code>.txt each (host_tools/webassets.py); none
    when the assets are missing (the page then answers 500 "asset missing")."""
    try:
        return tuple(sorted(n[6:-4] for n in os.listdir(ASSETS)
                            if n[:6] == "words." and n[-4:] == ".txt"))
    except OSError:
        return ()


LANGS = _langs()


def lang(asked, cookie, setting, accept):
    """The page's language: the consumer's pick on the page (?lang=, then its cookie), the
    meter's web.lang setting, the browser's Accept-Language, English. An unknown ?lang= is
    the caller's 400; unknown others are skipped."""
    for code in (asked, cookie, setting):
        if code in LANGS:
            return code
    for part in (accept or "").split(","):
        code = part.split(";")[0].strip().lower()[:2]
        if code in LANGS:
            return code
    return "en"


def cookie(code):
    """The Set-Cookie value that remembers the consumer's pick (?lang=) for a year."""
    return "lang=%s; Path=/; Max-Age=31536000; SameSite=Lax" % code


def lines(path):
    """The lines of a UTF-8 text file, without their newline. Read in 256-byte blocks:
    iterating a file object reads it one byte per call, which made a page render cost
    about 20 times more on the unix port (make bench, bench_web_page); 512-byte blocks (and
    the ~600 B joins with a line's start) found no room in a fragmented 160k 64-bit heap
    with several clients at once; the render time did not move beyond the bench's noise."""
    with open(path, "rb") as f:
        rest = b""
        while True:
            b = f.read(256)
            if not b:
                break
            b = rest + b
            i = 0
            while True:
                j = b.find(b"\n", i)
                if j < 0:
                    break
                yield b[i:j].decode()
                i = j + 1
            rest = b[i:]
        if rest:
            yield rest.decode()


def words(keys=None, lang="en"):
    """{key: phrase} for the given keys (all when None), in one pass over the file."""
    w = {}
    for ln in lines(ASSETS + "/words.%s.txt" % lang):
        k, _, v = ln.partition(" ")
        if keys is None or k in keys:
            w[k] = v
    return w


def problems(errors, lang):
    """The config's problems (key, code, values: prepay.settings.problem) in `lang`: the
    setting's name, then the catalogue's cfg.<code> phrase with the values filled in."""
    w = words(["cfg." + e[1] for e in errors], lang)
    out = []
    for key, code, vals in errors:
        t = w.get("cfg." + code, code)
        t = t % tuple(vals) if vals else t
        out.append(key + ": " + t if key else t)
    return out


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
    h = m.history
    return {"wh": m.energy.wh, "today_wh": h.today_wh() if h else 0,
            "month_wh": h.month_wh() if h else 0}


def hours(lt):
    """Minutes of the local time lt as HH:MM."""
    return "%02d:%02d" % (lt % 86400 // 3600, lt % 3600 // 60)


def price(m, w, lang):
    """(price now, its period, when the next period starts) in words; "" when unknown."""
    tar = m.credit.tariff if m.credit else None
    if not tar or not tar.rates:
        return w["price.none"], "", ""
    off = m.cfg["meter.utc_offset_min"] * 60
    t = m.board.time() + off
    timed = m.board.rtc_valid()   # without a clock the default rate applies (credit core)
    rid = tar.rate_id(t) if timed else tar.default
    ch = tar.next_change(t) if timed else None
    need = ["tou." + tar.names[rid]]
    if ch:
        need.append("tou." + tar.names[ch[1]])
    tw = words(need, lang)
    # the rate is milli-minor per kWh; shown in minor units, rounded half up (display only)
    now = w["price.kwh"] % money(m, (tar.rates[rid] + 500) // 1000)
    nxt = ""
    if ch:
        at = ch[0]
        when = hours(at) if at - t < 86400 else "%s %s" % (
            day_month(at), hours(at))
        name = tar.names[ch[1]]
        nxt = w["price.next"] % (tw.get("tou." + name, name), when)
    name = tar.names[rid]
    return now, tw.get("tou." + name, name), nxt


def day_month(lt):
    """The local date of lt as D/M."""
    from prepay.civil import civil_from_days
    _, mo, d = civil_from_days(lt // 86400)
    return "%d/%d" % (d, mo)


def days_text(snap, w):
    """Days left by the one rule (credit/days.py), with the hours of use it is from."""
    days = snap.get("days_left")
    if days is not None:
        return w["days.n"] % (days, snap.get("days_h", 0))
    need = snap.get("days_need_h")
    return w["days.need"] % need if need else w["days.none"]


def live(m, snap, en, lang="en"):
    """The flat display view: element id -> text (see the key conventions above)."""
    r = m.reading
    closed = m.board.relay_closed()
    rw = why(m, snap)
    st = r.status
    cr = snap.get("credit", 0)
    low = snap.get("low")
    debt = snap.get("debt", 0)
    ea = snap.get("emergency_available", 0)
    eu = snap.get("emergency_in_use", 0)
    lock = snap.get("lockout_s", 0)
    em = "em.use" if eu else "em.av" if ea else "em.none"
    al = ("al.out" if snap and cr <= 0 else "al.low" if low else
          "al.stale" if st == "stale" else "")
    on = "on" if closed else "off"
    net, code = m.net.key() if m.net else ("", 0)
    clk = "clk." + m.clock.source if m.clock else ""
    w = words((on, "why." + rw, "st." + st, em, al, "tok.locked", "days.n", "days.need",
               "days.none", "price.kwh", "price.next", "price.none", net, clk), lang)
    pr, period, nxt = price(m, w, lang)
    t = {"v": "%.1f" % r.v, "a": "%.2f" % r.i, "w": "%d" % int(r.p + 0.5), "pf": "%.2f" % r.pf,
         "hz": "%.1f" % r.hz, "today": kwh(en["today_wh"]), "month": kwh(en["month_wh"]),
         "relay": w[on], "relay_c": "pill ok" if closed else "pill bad",
         "why": relay_text(m, snap, w),
         "why_c": "ok" if rw == "ok" else ("warn" if closed else "bad"), "why_h": rw == "ok",
         "rstat": w.get("st." + st, st), "rstat_c": "ok" if st == "ok" else "warn",
         "conform_h": rw not in ("confirm", "gave_up"),
         "credit": money(m, cr) if snap else "\u2013",
         "credit_c": "big bad" if snap and cr <= 0 else ("big warn" if low else "big"),
         "days": days_text(snap, w),
         "price": pr, "period": period, "period_h": not period, "next": nxt,
         "spent_d": money(m, snap.get("spent_today", 0)),
         "spent_m": money(m, snap.get("spent_month", 0)),
         "debt": money(m, debt), "debt_c": "bad" if debt > 0 else "",
         "emerg": w[em] % money(m, eu or ea) if "%" in w[em] else w[em],
         "emform_h": not ea, "emamt": money(m, ea),
         "lock": w["tok.locked"] % lock if lock else "", "lock_h": not lock,
         "alert": w[al] if al else "", "alert_h": not al,
         # the WiFi link (device/net.py) and where the clock was set from (device/clock.py)
         "net": (w[net] % code if "%" in w[net] else w[net]) if net else "\u2013",
         "clk": w[clk] if clk else "\u2013"}
    return t

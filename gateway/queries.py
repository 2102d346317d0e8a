"""Read side: energy, demand and cost over time, per meter, group or the whole fleet.

Everything is a sum over the 30-minute slots of agg30 (per meter) or grp30 (per group, '' =
fleet), grouped into local-time buckets; nothing reads raw records except `raw_readings`.
Local time is UTC + utc_offset_min (whole half-hours line up with slots exactly).
"""
import calendar
import json
import time

from gateway.pricing import minor

SLOT = 1800
AGGS = ("30min", "hour", "day", "week", "month")
_LEN = {"30min": 1800, "hour": 3600, "day": 86400, "week": 7 * 86400}
RAW_LIMIT = 10000


class BadQuery(ValueError):
    """Raised for a query the caller got wrong (the API turns it into a 400)."""


def _key(agg, off):
    """SQL expression of the local bucket of a slot, and a function giving its UTC start."""
    loc = "(slot * 1800 + %d)" % off
    if agg == "30min":
        return "slot", lambda k: k * SLOT
    if agg in ("hour", "day"):
        n = _LEN[agg]
        return "%s / %d" % (loc, n), lambda k: k * n - off
    if agg == "week":   # ISO weeks start on Monday; epoch day 0 was a Thursday
        return "(%s / 86400 + 3) / 7" % loc, lambda k: (k * 7 - 3) * 86400 - off
    if agg == "month":
        return ("CAST(strftime('%%Y', %s, 'unixepoch') AS INTEGER) * 12 + "
                "CAST(strftime('%%m', %s, 'unixepoch') AS INTEGER) - 1" % (loc, loc),
                lambda k: calendar.timegm((k // 12, k % 12 + 1, 1, 0, 0, 0)) - off)
    raise BadQuery("agg must be one of " + ", ".join(AGGS + ("raw",)))


def _length(agg, start, off):
    if agg != "month":
        return _LEN[agg]
    y, m = time.gmtime(start + off)[:2]
    return calendar.monthrange(y, m)[1] * 86400


def _window(frm, to):
    if frm is None or to is None:
        raise BadQuery("from and to are required")
    if to <= frm:
        raise BadQuery("to must be after from")
    if to - frm > 20 * 366 * 86400:
        raise BadQuery("range longer than 20 years")
    return frm // SLOT, -(-to // SLOT)


def _rows(cur, agg, off, start_of, per_meter):
    out = []
    for k, wh, cost_um, n, max_dw, max_slot_wh in cur:
        start = start_of(k)
        length = _length(agg, start, off)
        row = {"t": start, "wh": wh, "cost": minor(cost_um), "avg_w": round(wh * 3600 / length, 1),
               "max_30min_w": max_slot_wh * 2, "records": n}
        if per_meter:
            row["max_w"] = max_dw / 10
        out.append(row)
    return out




def meter_energy(store, meter_id, frm, to, agg="day"):
    m = store.meter(meter_id)
    if m is None:
        return None
    lo, hi = _window(frm, to)
    off = m["utc_offset_min"] * 60
    expr, start_of = _key(agg, off)
    cur = store.reader().execute(
        "SELECT %s AS k, sum(wh), sum(cost_um), sum(n), max(max_dw), max(wh) FROM agg30"
        " WHERE mid=(SELECT mid FROM meters WHERE id=?) AND slot>=? AND slot<? GROUP BY k ORDER BY k"
        % expr, (meter_id, lo, hi))
    return _rows(cur, agg, off, start_of, True)


def group_energy(store, group, frm, to, agg="hour"):
    """group '' is the whole fleet; day boundaries use the gateway's utc_offset_min."""
    lo, hi = _window(frm, to)
    off = store.utc_offset_min * 60
    expr, start_of = _key(agg, off)
    cur = store.reader().execute(
        "SELECT %s AS k, sum(wh), sum(cost_um), sum(n), 0, max(wh) FROM grp30"
        " WHERE grp=? AND slot>=? AND slot<? GROUP BY k ORDER BY k" % expr, (group, lo, hi))
    return _rows(cur, agg, off, start_of, False)


def tou(store, meter_id, frm, to):
    """Energy and cost per time-of-use bucket (prepay/tariff.py named the buckets)."""
    lo, hi = _window(frm, to)
    rows = store.reader().execute(
        "SELECT coalesce(bucket, ''), sum(wh), sum(cost_um) FROM agg30"
        " WHERE mid=(SELECT mid FROM meters WHERE id=?) AND slot>=? AND slot<? GROUP BY 1 ORDER BY 1",
        (meter_id, lo, hi)).fetchall()
    return [{"bucket": b, "wh": wh, "cost": minor(c)} for b, wh, c in rows]


def top_consumers(store, frm, to, limit=10):
    lo, hi = _window(frm, to)
    return store.query(
        "SELECT m.id AS meter, sum(a.wh) AS wh, sum(a.cost_um) / 1000000 AS cost"
        " FROM agg30 a JOIN meters m USING(mid) WHERE a.slot>=? AND a.slot<? AND m.removed IS NULL"
        " GROUP BY m.id ORDER BY wh DESC LIMIT ?", (lo, hi, limit))


def raw_readings(store, meter_id, frm, to, limit=RAW_LIMIT):
    if frm is None or to is None or to <= frm:
        raise BadQuery("from and to are required, to after from")
    rows = store.query(
        "SELECT seq, t, wh, avg_dw / 10.0 AS avg_w, v_dv / 10.0 AS v, i_ma / 1000.0 AS a,"
        " pf_m / 1000.0 AS pf, hz_c / 100.0 AS hz, credit, flags FROM raw"
        " WHERE mid=(SELECT mid FROM meters WHERE id=?) AND t>=? AND t<? ORDER BY seq LIMIT ?",
        (meter_id, frm, to, limit + 1))
    return rows[:limit], len(rows) > limit


def live(store, meter_id):
    rows = store.query("SELECT l.t, l.data FROM live l JOIN meters m USING(mid) WHERE m.id=?",
                       (meter_id,))
    if not rows:
        return None
    d = json.loads(rows[0]["data"])
    d.setdefault("t", rows[0]["t"])
    return d


def last_record(store, meter_id):
    rows = store.query("SELECT seq, t, wh, credit, flags FROM raw WHERE mid=(SELECT mid FROM meters"
                       " WHERE id=?) ORDER BY seq DESC LIMIT 1", (meter_id,))
    return rows[0] if rows else None


def events(store, meter_id=None, frm=None, to=None, kind=None, limit=100):
    where, args = ["1=1"], []
    if meter_id is not None:
        where.append("m.id=?")
        args.append(meter_id)
    if frm is not None:
        where.append("e.t>=?")
        args.append(frm)
    if to is not None:
        where.append("e.t<?")
        args.append(to)
    if kind:
        where.append("e.kind=?")
        args.append(kind)
    rows = store.query("SELECT e.id, m.id AS meter, e.t, e.kind, e.data FROM events e JOIN meters m"
                       " USING(mid) WHERE %s ORDER BY e.t DESC, e.id DESC LIMIT ?"
                       % " AND ".join(where), args + [limit])
    for r in rows:
        r["data"] = json.loads(r["data"])
    return rows

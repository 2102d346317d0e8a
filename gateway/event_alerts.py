"""Alert conditions from what a meter measured and reported about its supply and itself:
over- and under-voltage, frequency out of range, over-current or the power limit tripping,
and tamper (the meter's own `anomaly` events). Part of gateway/alerts.py's conditions.

Two sources, one alert per kind:
- the meter's events (docs/protocol.md): `pq` power-quality events (start, end, worst value,
  limit; device/measure/quality.py), `power_limit` trips and `anomaly` events, over the
  last `event_window_s`;
- the newest interval record's average voltage against the fleet's (or the meter's)
  `over_voltage_dv` / `under_voltage_dv`, for meters whose firmware has no `pq` events.
Values keep the record units: voltage in V x 10 (dV), current in mA, frequency in Hz x 100.
"""
import json

EVENT_WINDOW_S = 86400
OVER_VOLTAGE_DV = 2530    # 230 V + 10 % (EN 50160)
UNDER_VOLTAGE_DV = 2070   # 230 V - 10 %

# pq event `what` -> alert kind
PQ_KIND = {"swell": "over_voltage", "over_voltage": "over_voltage",
           "sag": "under_voltage", "under_voltage": "under_voltage",
           "frequency": "frequency", "over_current": "over_current"}
KINDS = ("over_voltage", "under_voltage", "frequency", "over_current", "tamper")
_UNIT = {"over_voltage": (10, "V"), "under_voltage": (10, "V"), "frequency": (100, "Hz"),
         "over_current": (1000, "A")}


def _fmt(value, kind):
    scale, unit = _UNIT[kind]
    whole, frac = divmod(abs(int(value)), scale)
    digits = len(str(scale)) - 1
    return "%s%d.%0*d %s" % ("-" if value < 0 else "", whole, digits, frac, unit)


def conditions(store, meter_id, now, th):
    """The conditions of one meter at `now`; th: its thresholds (gateway/alerting.py)."""
    since = now - th.get("event_window_s", EVENT_WINDOW_S)
    found = {}   # kind -> condition
    pq, trips, tamper = {}, [], []
    for e in store.query(
            "SELECT e.t, e.kind, e.data FROM events e JOIN meters m USING(mid) WHERE m.id=?"
            " AND e.t>=? AND e.kind IN ('pq', 'power_limit', 'anomaly') ORDER BY e.t",
            (meter_id, since)):
        try:
            d = json.loads(e["data"])
        except ValueError:
            continue
        if not isinstance(d, dict):
            continue
        if e["kind"] == "pq" and d.get("what") in PQ_KIND and isinstance(d.get("worst"), int):
            pq.setdefault(PQ_KIND[d["what"]], []).append((e["t"], d))
        elif e["kind"] == "power_limit" and d.get("action") == "trip":
            trips.append((e["t"], d))
        elif e["kind"] == "anomaly":
            tamper.append((e["t"], d))
    for kind, evs in pq.items():
        high = kind != "under_voltage"
        worst = (max if high else min)(d["worst"] for _, d in evs)
        names = sorted({d["what"] for _, d in evs})
        limit = evs[-1][1].get("limit")
        found[kind] = {"kind": kind, "meter": meter_id, "severity": "warning",
                       "since": evs[0][0], "count": len(evs), "worst": worst,
                       "detail": "%d %s event%s in %d h, worst %s%s" % (
                           len(evs), "/".join(names), "" if len(evs) == 1 else "s",
                           (now - since) // 3600, _fmt(worst, kind),
                           " (limit %s)" % _fmt(limit, kind) if isinstance(limit, int) else "")}
    if trips:
        t, last = trips[-1]
        c = found.get("over_current")
        text = "power limit tripped %d time%s in %d h, last at %s W (limit %s W)" % (
            len(trips), "" if len(trips) == 1 else "s", (now - since) // 3600,
            last.get("p"), last.get("limit"))
        if c is None:
            found["over_current"] = {"kind": "over_current", "meter": meter_id,
                                     "severity": "warning", "since": trips[0][0],
                                     "count": len(trips), "detail": text}
        else:
            c["detail"] += "; " + text
            c["count"] += len(trips)
    if tamper:
        whats = sorted({str(d.get("what")) for _, d in tamper})
        found["tamper"] = {"kind": "tamper", "meter": meter_id, "severity": "critical",
                           "since": tamper[0][0], "count": len(tamper),
                           "detail": "the meter reported %d anomal%s in %d h (%s), last: %s %s" % (
                               len(tamper), "y" if len(tamper) == 1 else "ies",
                               (now - since) // 3600, ", ".join(whats),
                               tamper[-1][1].get("what"), tamper[-1][1].get("detail"))}
    _record_voltage(store, meter_id, now, th, found)
    return list(found.values())


def _record_voltage(store, meter_id, now, th, found):
    """The newest interval record's average voltage, if recent (within offline_after_s)."""
    rows = store.query("SELECT r.t, r.v_dv FROM raw r JOIN meters m USING(mid) WHERE m.id=?"
                       " ORDER BY r.seq DESC LIMIT 1", (meter_id,))
    if not rows or rows[0]["v_dv"] <= 0 or now - rows[0]["t"] > th.get("offline_after_s", 900):
        return
    v, t = rows[0]["v_dv"], rows[0]["t"]
    over = th.get("over_voltage_dv", OVER_VOLTAGE_DV)
    under = th.get("under_voltage_dv", UNDER_VOLTAGE_DV)
    if v > over:
        kind, limit, word = "over_voltage", over, "above"
    elif v < under:
        kind, limit, word = "under_voltage", under, "below"
    else:
        return
    text = "average %s over the newest interval, %s %s" % (_fmt(v, kind), word,
                                                            _fmt(limit, kind))
    c = found.get(kind)
    if c is None:
        found[kind] = {"kind": kind, "meter": meter_id, "severity": "warning", "since": t,
                       "detail": text}
        c = found[kind]
    else:
        c["detail"] += "; " + text
    c.update(voltage_dv=v, threshold_dv=limit)

"""Alert conditions derived from what the gateway holds: offline meters, low credit, credit
forecast to run out soon, supply cut, dead letters, energy-counter anomalies, commands the
meter never answered or refused, monthly statements whose reconciliation drifts, and the
supply and tamper conditions of gateway/event_alerts.py.
What is true now, from cheap queries over small tables: gateway/alerting.py persists them as
alerts that are raised, acknowledged and cleared, and this module is their one definition."""
import json
import time

from gateway import anomaly_alerts, event_alerts, forecasts

OFFLINE_AFTER_S = 15 * 60   # no message for this long means offline even without a last-will
LOW_CREDIT = 5000           # minor units; a meter attribute `low_warn` overrides it
RUNS_OUT_DAYS = 3           # the forecast says the credit runs out sooner than this
RECENT_S = 86400            # dead letters and anomalies newer than this raise alerts
RECONCILIATION_TOLERANCE = 10   # minor units a monthly statement may drift (rounding: ~1 a line)


def credit_state(store, meter_id):
    """The newest credit the meter reported: from live telemetry or its last record."""
    rows = store.query(
        "SELECT r.t, r.credit, r.flags FROM raw r JOIN meters m USING(mid) WHERE m.id=?"
        " ORDER BY r.seq DESC LIMIT 1", (meter_id,))
    best = {"t": rows[0]["t"], "credit": rows[0]["credit"], "source": "record",
            "relay_open": bool(rows[0]["flags"] & 0x0004)} if rows else None
    live = store.query("SELECT l.t, l.data FROM live l JOIN meters m USING(mid) WHERE m.id=?",
                       (meter_id,))
    if live:
        d = json.loads(live[0]["data"])
        if isinstance(d.get("credit"), int) and (best is None or live[0]["t"] >= best["t"]):
            best = {"t": live[0]["t"], "credit": d["credit"], "source": "live",
                    "relay_open": d.get("relay") in (0, False, "open")}
    return best


def default_thresholds(meter, offline_after_s=OFFLINE_AFTER_S, low_credit=LOW_CREDIT):
    return {"offline_after_s": offline_after_s, "low_credit": meter.get("low_warn", low_credit)}


def alerts(store, now=None, offline_after_s=OFFLINE_AFTER_S, low_credit=LOW_CREDIT,
           thresholds=None, consumption=None, plans=None):
    """The conditions true now. thresholds(meter) -> {"offline_after_s", "low_credit", ...}
    for one meter (gateway/alerting.py resolves the fleet's and the meter's own settings).
    consumption: an anomaly_alerts.ConsumptionWatch that keeps each day's verdict; plans:
    a forecasts.Plans that keeps each meter's forecast for the hour."""
    now = int(now if now is not None else time.time())
    consumption = consumption or anomaly_alerts.ConsumptionWatch()
    thresholds = thresholds or (lambda m: default_thresholds(m, offline_after_s, low_credit))
    out, meter_th = [], {}
    for m in store.meters():
        th = meter_th[m["id"]] = thresholds(m)
        if m.get("disconnected"):   # removed, its account closed: no supply left to watch
            continue                # (its final statement's drift still alerts, below)
        seen = m.get("last_seen")
        if not m["online"] or seen is None or now - seen > th["offline_after_s"]:
            out.append({"kind": "offline", "meter": m["id"], "severity": "warning",
                        "since": seen, "last_seen": seen,
                        "offline_after_s": th["offline_after_s"], "detail": "last seen %s" % (
                            "never" if seen is None else "%d s ago" % (now - seen))})
        c = credit_state(store, m["id"])
        if c is not None:
            level = th["low_credit"]
            if c["relay_open"]:
                out.append({"kind": "supply_cut", "meter": m["id"], "severity": "critical",
                            "since": c["t"], "credit": c["credit"],
                            "detail": "relay open, credit %d" % c["credit"]})
            elif c["credit"] < level:
                out.append({"kind": "low_credit", "meter": m["id"], "severity": "warning",
                            "since": c["t"], "credit": c["credit"], "threshold": level,
                            "detail": "credit %d below %d" % (c["credit"], level)})
            days = th.get("runs_out_days", RUNS_OUT_DAYS)
            if days and not c["relay_open"] and c["credit"] > 0:
                f = forecasts.days_left_of(store, m, c["credit"], now, plans)
                if f["seconds"] is not None and f["seconds"] < days * 86400:
                    out.append({"kind": "runs_out", "meter": m["id"], "severity": "warning",
                                "since": c["t"], "credit": c["credit"], "threshold_days": days,
                                "days": f["days"], "runs_out_at": f["runs_out_at"],
                                "basis": f["basis"], "history_hours": f["history_hours"],
                                "detail": "credit %d runs out in %s" % (c["credit"], f["text"])})
        out.extend(event_alerts.conditions(store, m["id"], now, th))
        out.extend(consumption.conditions(store, m, now, th))
    dl = store.query("SELECT count(*) n, max(t) t FROM dead_letters WHERE t>=?", (now - RECENT_S,))[0]
    if dl["n"]:
        last = store.query("SELECT topic, reason FROM dead_letters ORDER BY id DESC LIMIT 1")[0]
        out.append({"kind": "dead_letters", "meter": None, "severity": "warning",
                    "since": int(dl["t"]), "count": dl["n"],
                    "detail": "%d rejected payloads in 24 h, last: %s (%s)" % (
                        dl["n"], last["reason"], last["topic"])})
    for a in store.query(
            "SELECT m.id AS meter, count(*) n, min(a.t) t, group_concat(DISTINCT a.kind) kinds"
            " FROM anomalies a JOIN meters m USING(mid) WHERE a.found>=? AND m.removed IS NULL"
            " GROUP BY m.id", (now - RECENT_S,)):
        out.append({"kind": "counter_anomaly", "meter": a["meter"], "severity": "warning",
                    "since": a["t"], "count": a["n"],
                    "detail": "%d energy deltas excluded (%s)" % (a["n"], a["kinds"])})
    out.extend(command_alerts(store, now))
    out.extend(reconciliation_alerts(store, meter_th))
    return out


def reconciliation_alerts(store, meter_th):
    """Meters whose newest final monthly statement (gateway/statements.py) drifts from what
    the meter debited by more than their reconciliation_tolerance. meter_th: {meter id:
    its thresholds}, for the meters in service."""
    out = []
    for r in store.query(
            "SELECT s.meter, s.period, s.made, s.charged, s.debited, s.drift FROM statements s"
            " WHERE s.final=1 AND s.drift IS NOT NULL AND s.period=(SELECT max(x.period) FROM"
            " statements x WHERE x.meter=s.meter AND x.final=1) ORDER BY s.meter"):
        if r["meter"] not in meter_th:
            continue
        tolerance = meter_th[r["meter"]].get("reconciliation_tolerance", RECONCILIATION_TOLERANCE)
        if abs(r["drift"]) > tolerance:
            out.append({"kind": "reconciliation_drift", "meter": r["meter"],
                        "severity": "warning", "since": r["made"], "period": r["period"],
                        "charged": r["charged"], "debited": r["debited"], "drift": r["drift"],
                        "tolerance": tolerance,
                        "detail": "statement %s: the tariff charges %d, the meter debited %d: "
                        "drift %+d beyond %d" % (r["period"], r["charged"], r["debited"],
                                                 r["drift"], tolerance)})
    return out


def command_alerts(store, now):
    """Commands (gateway/outbox.py) that expired, and those the meter refused in the last
    24 h. An expired token is a paid top-up the meter may never have credited: critical,
    until the meter's answer or token memory settles it (not after 24 h)."""
    out = []
    for a in store.query(
            "SELECT m.id AS meter, o.status, count(*) n, min(o.done) t,"
            " sum(o.kind='token') tokens, group_concat(o.cid) ids FROM outbox o"
            " JOIN meters m USING(mid) WHERE m.removed IS NULL AND ((o.status='expired'"
            " AND (o.kind='token' OR o.done>=?)) OR (o.status='rejected' AND o.done>=?))"
            " GROUP BY m.id, o.status ORDER BY m.id, o.status", (now - RECENT_S, now - RECENT_S)):
        expired = a["status"] == "expired"
        out.append({"kind": "command_expired" if expired else "command_rejected",
                    "meter": a["meter"], "count": a["n"], "since": int(a["t"]),
                    "severity": "critical" if expired and a["tokens"] else "warning",
                    "detail": "%d command%s %s (%s)%s" % (
                        a["n"], "" if a["n"] == 1 else "s",
                        "never answered by the meter" if expired else "refused by the meter",
                        a["ids"], ", %d top-up%s not credited" % (
                            a["tokens"], "" if a["tokens"] == 1 else "s")
                        if expired and a["tokens"] else "")})
    return out

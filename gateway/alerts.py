"""Alerts derived from what the gateway holds: offline meters, low credit, supply cut,
dead letters and energy-counter anomalies. Computed on request (cheap queries over small
tables), so an alert clears itself when its cause goes away."""
import json
import time

OFFLINE_AFTER_S = 15 * 60   # no message for this long means offline even without a last-will
LOW_CREDIT = 5000           # minor units; a meter attribute `low_warn` overrides it
RECENT_S = 86400            # dead letters and anomalies newer than this raise alerts


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


def alerts(store, now=None, offline_after_s=OFFLINE_AFTER_S, low_credit=LOW_CREDIT):
    now = int(now if now is not None else time.time())
    out = []
    for m in store.meters():
        seen = m.get("last_seen")
        if not m["online"] or seen is None or now - seen > offline_after_s:
            out.append({"kind": "offline", "meter": m["id"], "severity": "warning",
                        "since": seen, "detail": "last seen %s" % (
                            "never" if seen is None else "%d s ago" % (now - seen))})
        c = credit_state(store, m["id"])
        if c is not None:
            level = m.get("low_warn", low_credit)
            if c["relay_open"]:
                out.append({"kind": "supply_cut", "meter": m["id"], "severity": "critical",
                            "since": c["t"], "detail": "relay open, credit %d" % c["credit"]})
            elif c["credit"] < level:
                out.append({"kind": "low_credit", "meter": m["id"], "severity": "warning",
                            "since": c["t"], "detail": "credit %d below %d" % (c["credit"], level)})
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
    return out

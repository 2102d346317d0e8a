"""The alert lifecycle: the conditions of gateway/alerts.py (the one source of truth for
what is wrong now) turned into persisted alerts that are raised, acknowledged and cleared.

`Alerting(store).evaluate(now)` compares the conditions with the open alerts:
- a new condition raises an alert (one open alert per meter and kind: a unique index);
- a condition that returns within its kind's cooldown of clearing reopens the cleared
  alert instead, so a flapping meter is one alert and one notification, not a hundred;
- an open alert whose condition is gone is cleared.
Raised and cleared alerts are handed to `on_change(alert, event)` (gateway/notify.py).
The service evaluates periodically and after ingest batches; GET /api/alerts evaluates too,
so the list is never staler than the request.
"""
import json
import threading
import time

from gateway import alerts as conditions
from gateway import anomaly, anomaly_alerts, event_alerts, forecasts

# Settings (alert_thresholds rows; scope '' = the fleet, a meter id overrides the fleet):
# name -> (default, help). A low_warn meter attribute still overrides the fleet's low_credit.
SETTINGS = {
    "offline_after_s": (conditions.OFFLINE_AFTER_S, "no message for this long: offline"),
    "low_credit": (conditions.LOW_CREDIT, "credit below this (minor units): low_credit"),
    "reconciliation_tolerance": (conditions.RECONCILIATION_TOLERANCE, "a monthly statement's "
                                 "drift beyond this (minor units): reconciliation_drift"),
    "runs_out_days": (conditions.RUNS_OUT_DAYS, "credit forecast to run out within this many "
                      "days (0: never alert): runs_out"),
    "event_window_s": (event_alerts.EVENT_WINDOW_S, "meter events this recent raise "
                       "over_voltage, under_voltage, frequency, over_current, tamper"),
    "over_voltage_dv": (event_alerts.OVER_VOLTAGE_DV, "newest average voltage above this "
                        "(V x 10): over_voltage"),
    "under_voltage_dv": (event_alerts.UNDER_VOLTAGE_DV, "newest average voltage below this "
                         "(V x 10): under_voltage"),
    "anomaly_detect": (anomaly_alerts.ENABLED, "1: check each local day's use against the "
                       "meter's baseline (consumption_anomaly); 0: do not"),
    "anomaly_min_excess_wh": (anomaly.MIN_EXCESS_WH, "a 3-hour block counts as high only this "
                              "far above its usual (Wh): consumption_anomaly"),
}
COOLDOWN_S = {   # per kind: a condition back within this of clearing reopens the alert
    "offline": 600, "low_credit": 3600, "supply_cut": 300, "dead_letters": 3600,
    "counter_anomaly": 3600, "command_expired": 600, "command_rejected": 600,
    "reconciliation_drift": 86400,
    "runs_out": 6 * 3600, "over_voltage": 3600, "under_voltage": 3600, "frequency": 3600,
    "over_current": 3600, "tamper": 3600, "consumption_anomaly": 3600,
}
for _kind, _s in COOLDOWN_S.items():
    SETTINGS["cooldown_s_" + _kind] = (_s, "cooldown of %s alerts, seconds" % _kind)
SETTING_MAX = 10 ** 9

COLUMNS = ("id, kind, meter, severity, explanation, data, raised, updated, acknowledged,"
           " acknowledged_by, cleared")


def row_out(r):
    """An alert as the API shows it: the stored row, its numbers, and the fields GET
    /api/alerts always had (detail, since)."""
    d = dict(r)
    data = json.loads(d.pop("data"))
    out = dict(data, **d)
    out.setdefault("detail", d["explanation"])
    out["state"] = "cleared" if d["cleared"] else "acknowledged" if d["acknowledged"] else "open"
    return out


class Alerting:
    def __init__(self, store, on_change=None, clock=time.time):
        self.store = store
        self.on_change = on_change
        self.clock = clock
        self.lock = threading.Lock()   # one evaluation at a time (service thread, API)
        self.stats = {"evaluations": 0, "raised": 0, "reopened": 0, "cleared": 0}
        self.consumption = anomaly_alerts.ConsumptionWatch()   # each day's verdict, kept
        self.plans = forecasts.Plans()       # each meter's forecast for the hour, kept

    # -- thresholds ---------------------------------------------------------------------------
    def thresholds(self, meter_id=None):
        """{name: value}: the defaults, the fleet's settings, then the meter's own."""
        rows = self.store.query("SELECT scope, name, value FROM alert_thresholds"
                                " WHERE scope IN ('', ?) ORDER BY scope", (meter_id or "",))
        out = {k: v[0] for k, v in SETTINGS.items()}
        for r in rows:
            if r["name"] in SETTINGS:
                out[r["name"]] = r["value"]
        return out

    def overrides(self):
        """{scope: {name: value}} as stored ('' = the fleet)."""
        out = {}
        for r in self.store.query("SELECT scope, name, value FROM alert_thresholds"):
            out.setdefault(r["scope"], {})[r["name"]] = r["value"]
        return out

    def set_thresholds(self, scope, values):
        """values: {name: int, or None to remove the setting}; names checked by the caller."""
        with self.store.write() as cur:
            for name, v in values.items():
                if v is None:
                    cur.execute("DELETE FROM alert_thresholds WHERE scope=? AND name=?",
                                (scope, name))
                else:
                    cur.execute("INSERT INTO alert_thresholds VALUES(?,?,?) ON CONFLICT(scope,"
                                " name) DO UPDATE SET value=excluded.value", (scope, name, v))

    def _meter_thresholds(self, meter, fleet, own):
        th = dict(fleet)
        if "low_warn" in meter:   # the meter attribute predates these settings: still honoured
            th["low_credit"] = meter["low_warn"]
        th.update(own.get(meter["id"], {}))
        return th

    # -- lifecycle ----------------------------------------------------------------------------
    def evaluate(self, now=None):
        """Bring the persisted alerts in line with the conditions now; returns the changes
        [(alert, "raised" | "cleared")]."""
        now = int(self.clock() if now is None else now)
        with self.lock:
            fleet, own = self.thresholds(), self.overrides()
            found = conditions.alerts(self.store, now, thresholds=lambda m: self._meter_thresholds(
                m, fleet, own), consumption=self.consumption, plans=self.plans)
            changes = []
            with self.store.write() as cur:
                open_ = {(r["kind"], r["meter"]): r for r in _rows(cur, "cleared IS NULL")}
                for c in found:
                    key = (c["kind"], c["meter"])
                    data = json.dumps({k: v for k, v in c.items()
                                       if k not in ("kind", "meter", "severity")})
                    if key in open_:
                        cur.execute("UPDATE alerts SET severity=?, explanation=?, data=?, updated=?"
                                    " WHERE id=?", (c["severity"], c["detail"], data, now,
                                                    open_.pop(key)["id"]))
                        continue
                    th = fleet if c["meter"] is None else self._meter_thresholds(
                        {"id": c["meter"]}, fleet, own)
                    cool = th.get("cooldown_s_" + c["kind"], 0)
                    # on the index alerts(meter, kind, id): a scan per alert was quadratic
                    # when a fleet's 100,000 meters were all offline at once
                    last = _rows(cur, "meter %s AND kind=? AND cleared>=? ORDER BY id DESC"
                                 " LIMIT 1" % ("IS NULL" if c["meter"] is None else "=?"),
                                 ((c["meter"],) if c["meter"] is not None else ()) +
                                 (c["kind"], now - cool))
                    if last:   # back within the cooldown: the same alert again, no new notice
                        cur.execute("UPDATE alerts SET cleared=NULL, severity=?, explanation=?,"
                                    " data=?, updated=? WHERE id=?",
                                    (c["severity"], c["detail"], data, now, last[0]["id"]))
                        self.stats["reopened"] += 1
                        continue
                    cur.execute("INSERT INTO alerts(kind, meter, severity, explanation, data,"
                                " raised, updated) VALUES(?,?,?,?,?,?,?)",
                                (c["kind"], c["meter"], c["severity"], c["detail"], data, now, now))
                    changes.append((cur.lastrowid, "raised"))
                    self.stats["raised"] += 1
                for r in open_.values():
                    cur.execute("UPDATE alerts SET cleared=?, updated=? WHERE id=?",
                                (now, now, r["id"]))
                    changes.append((r["id"], "cleared"))
                    self.stats["cleared"] += 1
                out = [(row_out(_rows(cur, "id=?", (i,))[0]), ev) for i, ev in changes]
                if self.on_change:
                    for a, ev in out:   # in the same transaction: no change without its notices
                        self.on_change(cur, a, ev, now)
            self.stats["evaluations"] += 1
            return out

    def acknowledge(self, alert_id, who, now=None):
        """The alert after acknowledging it (idempotent: the first acknowledgement stays);
        None if there is no such alert."""
        now = int(self.clock() if now is None else now)
        with self.store.write() as cur:
            cur.execute("UPDATE alerts SET acknowledged=?, acknowledged_by=? WHERE id=?"
                        " AND acknowledged IS NULL", (now, who, alert_id))
            rows = _rows(cur, "id=?", (alert_id,))
        return row_out(rows[0]) if rows else None

    def list(self, state="open", kind=None, meter=None, limit=100):
        where, args = [], []
        if state == "open":
            where.append("cleared IS NULL")
        if kind:
            where.append("kind=?")
            args.append(kind)
        if meter:
            where.append("meter=?")
            args.append(meter)
        rows = self.store.query("SELECT %s FROM alerts%s ORDER BY id DESC LIMIT ?" % (
            COLUMNS, " WHERE " + " AND ".join(where) if where else ""), tuple(args) + (limit,))
        return [row_out(r) for r in rows]


def _rows(cur, where, args=()):
    cur.execute("SELECT %s FROM alerts WHERE %s" % (COLUMNS, where), args)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()]

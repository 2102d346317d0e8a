"""The consumption_anomaly condition: each meter's newest complete local day checked against
its own baseline (gateway/anomaly.py), from the 30-minute aggregates.

A day is checked once, when it completes (in the meter's local time), and the verdict is
kept in memory for the evaluations of the following day: the condition holds while the
newest complete day is anomalous, so an alert is raised when such a day ends and clears
when a normal one does. After a restart the first evaluation checks again (one query of
29 days of aggregates per meter).
"""
from gateway import anomaly

SLOT_S = 1800
ENABLED = 1


class ConsumptionWatch:
    def __init__(self):
        self.verdicts = {}   # meter id -> (local day, min_excess_wh, [Finding])

    def findings(self, store, meter, now, min_excess_wh=anomaly.MIN_EXCESS_WH):
        off = meter.get("utc_offset_min", 0) * 60
        day = (now + off) // 86400 - 1            # the newest complete local day
        key = (day, min_excess_wh)
        got = self.verdicts.get(meter["id"])
        if got is not None and got[:2] == key:
            return got[2]
        first = (day - anomaly.WINDOW_DAYS) * 86400 - off   # UTC start of the window
        hourly = {}
        for r in store.query(
                "SELECT a.slot, a.wh FROM agg30 a JOIN meters m USING(mid) WHERE m.id=?"
                " AND a.slot>=? AND a.slot<?", (meter["id"], first // SLOT_S,
                                                ((day + 1) * 86400 - off) // SLOT_S)):
            h = (r["slot"] * SLOT_S + off) // 3600
            hourly[h] = hourly.get(h, 0) + r["wh"]
        found = anomaly.detect(anomaly.blocks_of(hourly), day, min_excess_wh=min_excess_wh)
        self.verdicts[meter["id"]] = key + (found,)
        return found

    def conditions(self, store, meter, now, th):
        if not th.get("anomaly_detect", ENABLED):
            return []
        found = self.findings(store, meter, now,
                              th.get("anomaly_min_excess_wh", anomaly.MIN_EXCESS_WH))
        if not found:
            return []
        off = meter.get("utc_offset_min", 0) * 60
        return [{"kind": "consumption_anomaly", "meter": meter["id"], "severity": "warning",
                 "since": found[0].day * 86400 - off + found[0].first * anomaly.BLOCK_H * 3600,
                 "findings": [f.as_dict() for f in found],
                 "detail": "; ".join(f.explanation() for f in found)}]

"""Consumption anomalies (gateway/anomaly.py) on synthetic days whose answer is known, and
the consumption_anomaly alert (gateway/anomaly_alerts.py) from a real SQLite store."""
import pytest

from gateway import anomaly
from gateway.alerting import Alerting
from gateway.store import Store
from prepay.tariff import weekday
from test_alerting import Clock

TUE = 19878            # 2024-06-04, a Tuesday (local day number)
assert weekday(TUE) == 1
# a usual block: night 100 Wh, then more; each day varies by 0, 50 or 100 Wh a block
BASE = [100, 100, 600, 500, 700, 900, 1500, 600]


def history(today=None, days_before=28, weekend_factor=1):
    days = {}
    for d in range(TUE - days_before, TUE):
        f = weekend_factor if anomaly.weekend(d) else 1
        days[d] = [b * f + 50 * (d % 3) for b in BASE]
    days[TUE] = today if today is not None else [b + 50 for b in BASE]
    return days


def test_a_usual_day_is_not_flagged():
    assert anomaly.detect(history(), TUE) == []


def test_stuck_on_at_night_explains_itself():
    today = [b + 50 for b in BASE]
    today[0] += 900
    today[1] += 900
    (f,) = anomaly.detect(history(today), TUE)
    assert (f.kind, f.hours(), f.wh) == ("stuck_on", (0, 6), 2100)
    # the night on 20 weekdays was 200, 300 or 400 Wh: median 300, MAD 100 (x 1.4826)
    assert (f.usual, f.spread) == (300, 148)
    assert f.explanation() == "Tuesday 00:00–06:00 used 2.1 kWh; usual is 0.3 ± 0.1 kWh"
    assert f.as_dict() == {"what": "stuck_on", "day": TUE, "from_h": 0, "to_h": 6,
                           "wh": 2100, "usual_wh": 300, "spread_wh": 148}


def test_sudden_drop_over_the_day():
    today = [b * 3 // 10 for b in BASE]          # a bypass: the meter sees 30 %
    (f,) = anomaly.detect(history(today), TUE)
    assert (f.kind, f.hours()) == ("drop", (0, 24))
    assert f.explanation() == "Tuesday 00:00–24:00 used 1.5 kWh; usual is 5.4 ± 0.6 kWh"


def test_sustained_spike_but_not_a_busy_afternoon():
    today = [b + 50 for b in BASE]
    for k in (3, 4, 5):
        today[k] += 4000                          # 1.3 kW more for nine hours
    (f,) = anomaly.detect(history(today), TUE)
    assert (f.kind, f.hours(), f.wh) == ("spike", (9, 18), 2250 + 12000)
    busy = [b + 50 for b in BASE]
    for k in (3, 4, 5):
        busy[k] += 900                           # washing, ironing: less than 3x usual
    assert anomaly.detect(history(busy), TUE) == []


def test_weekends_have_their_own_baseline():
    sat = TUE + 4
    days = history(weekend_factor=3)
    days.update({d: [b + 50 * (d % 3) for b in BASE] for d in range(TUE, sat)})
    days[sat] = [b * 3 for b in BASE]             # a usual Saturday: 3x a weekday
    assert anomaly.detect(days, sat) == []
    days[sat] = [b for b in BASE]                 # a Saturday like a weekday: a drop
    assert [f.kind for f in anomaly.detect(days, sat)] == ["drop"]


def test_no_verdict_without_the_day_or_enough_baseline():
    assert anomaly.detect(history(), TUE + 1) == []
    short = history([b * 10 for b in BASE], days_before=5)   # 3 weekdays: too few
    assert anomaly.detect(short, TUE) == []


def test_blocks_of_keeps_complete_days():
    hourly = {TUE * 24 + h: 10 * h for h in range(24)}
    hourly[(TUE + 1) * 24] = 5
    assert anomaly.blocks_of(hourly) == {TUE: [30, 120, 210, 300, 390, 480, 570, 660]}


def rec(seq, t, wh):
    return (seq, t, wh, 10000, 2300, 4350, 1000, 5000, 90000, 0)


def test_consumption_anomaly_alert_raised_and_cleared(tmp_path):
    """0.5 kWh every 30 minutes for four weeks, then a night with 1.5 kWh more every 30
    minutes: one alert that explains itself, cleared when a usual day has passed."""
    store = Store(tmp_path / "c.db")
    store.register_meter("m-1")
    start = (TUE - 28) * 86400
    recs, wh = [], 0
    for k in range(30 * 48 + 1):
        t = start + 1800 * k
        if k:
            night = TUE * 86400 < t <= TUE * 86400 + 6 * 3600
            wh += 500 + (1500 if night else 0)
        recs.append(rec(k + 1, t, wh))
    store.insert_records("m-1", recs)
    clock = Clock((TUE + 1) * 86400 + 60)
    store.set_meter_status("m-1", online=True, last_seen=clock.t)
    al = Alerting(store, clock=clock)
    al.set_thresholds("", {"low_credit": 0, "runs_out_days": 0})
    al.evaluate()
    (a,) = al.list()
    assert (a["kind"], a["meter"], a["since"]) == ("consumption_anomaly", "m-1", TUE * 86400)
    assert a["explanation"] == \
        "Tuesday 00:00–06:00 used 24.0 kWh; usual is 6.0 ± 0.0 kWh"
    assert a["findings"][0]["what"] == "stuck_on"
    # the meter's own setting turns detection off
    al.set_thresholds("m-1", {"anomaly_detect": 0})
    assert [(x["kind"], ev) for x, ev in al.evaluate()] == [("consumption_anomaly", "cleared")]
    al.set_thresholds("m-1", {"anomaly_detect": None})
    clock.t += 3600   # within the cooldown: the same alert again
    store.set_meter_status("m-1", last_seen=clock.t)
    assert al.evaluate() == [] and al.list()[0]["kind"] == "consumption_anomaly"
    # Wednesday was usual: cleared when it ends
    clock.t = (TUE + 2) * 86400 + 60
    store.set_meter_status("m-1", last_seen=clock.t)
    assert [(x["kind"], ev) for x, ev in al.evaluate()] == [("consumption_anomaly", "cleared")]
    store.close()

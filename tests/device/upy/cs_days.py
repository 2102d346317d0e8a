# The meter's days left (credit/days.py on the one rule, prepay/days_left.py), driven through
# the real credit stage: the synthetic weeks of days_cases.py, the week across a restart, and
# state saved by older firmware. Run by credit_check.py; tests/device/test_days.py checks.
import gc
import os

from credit_harness import meter, run, events, step
from days_cases import CASES
from state_file import StateFile


def _week(name):
    """One case's week through credit.step in 10-minute windows; -> what the meter says at
    its end (the first window of the next hour made the estimate)."""
    case = CASES[name]
    m = meter({"tariff": case["tariff"], "credit": {"initial": case["credit"]}}, fresh=True)
    c = m.credit
    for hours, w in case["runs"]:
        run(m, hours * 3600, float(w), dt_ms=600000)
    s = c.snapshot()
    out = {"t": m.utc, "credit": s["credit"], "left_s": c.days.left_s, "days_left": s["days_left"],
           "days_h": s["days_h"], "need": s["days_need_h"], "closed": c.relay_closed}
    m = c = None
    gc.collect()
    return out


def s_weeks():
    return {"cases": {name: _week(name) for name in CASES}}


def s_restart():
    # 30 hours at 1 kW, then a restart mid-hour: the week comes back from flash
    doc = {"tariff": CASES["constant"]["tariff"], "credit": {"initial": 3000}}
    m = meter(doc, fresh=True)
    run(m, 30 * 3600, 1000.0, dt_ms=600000)
    run(m, 1200, 1000.0, dt_ms=600000)          # 20 minutes into hour 30: not saved
    c = m.credit
    before = [c.days.left_s, c.days.used_h, c.days.hours.first, c.days.hours.last]
    from energy_history import EnergyHistory     # the page's 24 hours: the same week
    chart = EnergyHistory(m.board.root, 0, c.days.hours).hourly(3)
    hours = [c.days.hours.at(h) for h in range(c.days.hours.first, c.days.hours.last + 1)]
    utc = m.utc
    m = c = None
    gc.collect()
    m = meter(doc)                               # the reboot: a second Credit
    m.utc = utc
    c = m.credit
    h = c.days.hours
    after = [c.days.hours.first, c.days.hours.last]
    step(m, m.utc + 60, 60000)
    return {"before": before, "hours": hours, "after": after, "chart": chart,
            "restored": [h.at(k) for k in range(h.first, h.last + 1)],
            "estimate": [c.days.left_s, c.days.used_h], "corrupt": len(events(m, "state_corrupt"))}


def _rm(root, *names):
    for n in names:
        try:
            os.remove(root + "/" + n)
        except OSError:
            pass


def s_bad_week():
    # a week on flash that is not one (a wrong length, then not base64): an empty week,
    # counted as corrupt, and the meter boots and meters on
    doc = {"tariff": CASES["constant"]["tariff"], "credit": {"initial": 3000}}
    m = meter(doc, fresh=True)
    root = m.board.root
    m = None
    gc.collect()
    out = {}
    for name, blob, bad in (("short", bytearray(8), {"s": [1, 2]}),   # a ring cut short
                            ("text", None, {"w": "AAAA", "s": [1, 2]}),  # no ring at all
                            ("keys", bytearray(676), {"x": 1})):        # not the week's keys
        _rm(root, "hours.a", "hours.b")          # only the bad slot on flash
        StateFile(root + "/hours", blob, len(blob) if blob else 0).save(bad)
        m = meter(doc)
        c = m.credit
        run(m, 3600 + 600, 1000.0, dt_ms=600000)
        out[name] = [c.days._slots.corrupt, c.days.used_h, c.relay_closed]
        m = c = None
        gc.collect()
    return out


def s_old_state():
    # a credit state and a page rollup as older firmware saved them: Usage's "u" with its
    # days-left history third, the rollup with its own 24 hours ("h")
    doc = {"tariff": CASES["constant"]["tariff"], "credit": {"initial": 3000}}
    m = meter(doc, fresh=True)
    run(m, 2 * 3600, 1000.0, dt_ms=600000)
    root = m.board.root
    m = None
    gc.collect()
    slots = StateFile(root + "/credit")
    st = slots.load()
    day, today, mon, month = st["u"]
    st["u"] = [day, today, [150, 140, 160], mon, month]
    slots.save(st)
    _rm(root, "hours.a", "hours.b")              # older firmware had no week on flash
    try:
        os.mkdir(root + "/journal")
    except OSError:
        pass
    StateFile(root + "/journal/rollup").save(
        {"i": [-1, -1, 0, 0, -1, False], "h": [7] * 24, "d": [0] * 30})
    m = meter(doc)
    s = m.credit.snapshot()
    from energy_history import EnergyHistory
    eh = EnergyHistory(root, 0, m.credit.days.hours)
    return {"spent": [s["spent_today"], s["spent_month"]], "want": [today // 10**6, month // 10**6],
            "days": [s["days_left"], s["days_h"], s["days_need_h"]],
            "corrupt": len(events(m, "state_corrupt")), "rollup_corrupt": eh._slots.corrupt,
            "hourly": eh.hourly(3)}

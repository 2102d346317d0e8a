# Credit scenarios: pre-debit, time-of-use pricing, standing charge, debt, restore, corrupt
# and torn state. Run by credit_check.py under MicroPython.
from credit_harness import meter, run, events, token, step, T0

TOU = {"rates": {"peak": "12.5", "std": 800, "off": "4.125"}, "default": "std",
       "windows": [{"rate": "peak", "days": ["weekday"], "from": "18:00", "to": "22:00"},
                   {"rate": "off", "from": "22:00", "to": "06:00"}]}
FLAT = {"rates": {"std": 1000}}
TOK = {"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010}


def s_predebit():
    # 2 kW for 1 h, then idle 1 h: writes, exact money, nothing unpaid
    m = meter({"tariff": FLAT, "credit": {"initial": 100000}}, fresh=True)
    c = m.credit
    w0 = c.writes
    run(m, 3600, 2000.0)
    a = c.audit()
    w1 = c.writes
    run(m, 3600, 0.0)
    return {"load_writes": w1 - w0, "idle_writes": c.writes - w1, "wh": m.energy.wh,
            "audit": a, "snap": c.snapshot(), "ahead": a["paid_wh"] - a["wh"]}


def s_tou():
    # 1 kW from 17:00 to 23:00 local (+05:30) on a Monday: std, peak, off buckets; each
    # window's Wh are tallied per bucket here so the money can be checked exactly
    m = meter({"tariff": TOU, "meter": {"id": "t1", "utc_offset_min": 330},
               "credit": {"initial": 1000000}}, fresh=True)
    c = m.credit
    m.utc = T0 + 17 * 3600 - 330 * 60
    per = {}
    wh = m.energy.wh
    for _ in range(6 * 3600):
        run(m, 1, 1000.0)
        d = m.energy.wh - wh
        if d:
            b = c.tariff.bucket(m.utc + 330 * 60)
            per[b] = per.get(b, 0) + d
            wh = m.energy.wh
    return {"audit": c.audit(), "wh": m.energy.wh, "per": per,
            "rates": dict(zip(c.tariff.names, c.tariff.rates))}


def s_standing():
    # idle days with credit: one write per day, charge with carried remainder
    m = meter({"tariff": {"rates": {"std": 1000}, "standing_per_day": "10.5"},
               "credit": {"initial": 10000}}, fresh=True)
    c = m.credit
    w0 = c.writes
    for day in range(1, 11):
        for h in (1, 9, 17):
            m.utc = T0 + day * 86400 + h * 3600
            step(m, m.utc, 1000)
    # the clock jumps back a day: nothing is charged twice
    m.utc = T0 + 9 * 86400 + 3600
    step(m, m.utc, 1000)
    return {"writes": c.writes - w0, "standing": c.audit()["standing"],
            "credit": c.snapshot()["credit"], "days_left": c.snapshot()["days_left"]}


def s_debt():
    # standing charge at zero credit accrues as debt; top-up repays 25 %
    m = meter({"tariff": {"rates": {"std": 1000}, "standing_per_day": "33.333"},
               "credit": {"initial": 0, "debt_recovery_pct": 25}, "token": TOK}, fresh=True)
    c = m.credit
    d0 = c.snapshot()["debt"]
    for day in range(1, 4):
        m.utc = T0 + day * 86400 + 3600
        step(m, m.utc, 1000)
    s = c.snapshot()
    r = c.enter_token(token(10, 2))   # 1000
    s2 = c.snapshot()
    return {"d0": d0, "debt3": s["debt"], "standing": c.audit()["standing"],
            "topup": [r["message"], s2["credit"], s2["debt"]], "cut": c.relay_reason}


def s_restore():
    # power lost between saves, analog front-end (no register of its own): the energy
    # pre-paid ahead of the register is treated as delivered; credit never rises
    m = meter({"tariff": FLAT, "credit": {"initial": 100000}}, fresh=True)
    c = m.credit
    run(m, 100, 3000.0)
    before = c.audit()
    bal_before = c.snapshot()["credit"]
    wh_before = m.energy.wh
    m = c = None                   # no save: a "power cut"
    m2 = meter({"tariff": FLAT, "credit": {"initial": 100000}})
    relay0 = m2.credit.relay_closed
    run(m2, 1, 0.0)
    after = m2.credit.audit()
    return {"before": before, "after": after, "bal": [bal_before, m2.credit.snapshot()["credit"]],
            "restored": m2.credit.restored, "ev": len(events(m2, "restore")), "relay0": relay0,
            "energy": [wh_before, m2.energy.wh, m2.energy.last_reg]}


def s_restore_reg():
    # the same with a front-end that keeps its own register (PZEM): the energy used after
    # the last save is read back and billed exactly, nothing is forfeited
    m = meter({"tariff": FLAT, "credit": {"initial": 100000}}, fresh=True)
    c = m.credit
    reg = [5000, 0]
    run(m, 100, 3000.0, reg=reg)
    bal_before = c.snapshot()["credit"]
    wh_before = m.energy.wh
    saved = c.L.paid_wh
    m = c = None                   # "power cut"; the PZEM keeps its count
    m2 = meter({"tariff": FLAT, "credit": {"initial": 100000}})
    run(m2, 1, 0.0, reg=reg)
    a = m2.credit.audit()
    return {"restored": m2.credit.restored, "bal": [bal_before, m2.credit.snapshot()["credit"]],
            "energy": [wh_before, m2.energy.wh], "saved_paid": saved, "audit": a}


def s_corrupt():
    m = meter({"tariff": FLAT, "credit": {"initial": 5000}}, fresh=True)
    root = m.board.root
    for s in ("a", "b"):
        with open(root + "/credit." + s, "wb") as f:
            f.write(b"7 123\n{garbage")
    m = None
    m2 = meter({"tariff": FLAT, "credit": {"initial": 5000}})
    return {"credit": m2.credit.snapshot()["credit"], "ev": len(events(m2, "state_corrupt")),
            "relay": m2.credit.relay_reason}


def s_torn():
    # a torn newest slot falls back to the last good one
    m = meter({"tariff": FLAT, "credit": {"initial": 5000}, "token": TOK}, fresh=True)
    c = m.credit
    c.enter_token(token(3, 2))
    good = c.snapshot()["credit"]
    seq = c._slots.seq
    c.enter_token(token(4, 4))
    root = m.board.root
    path = root + "/credit." + ("b" if (seq + 1) & 1 else "a")
    with open(path, "rb") as f:
        raw = f.read()
    with open(path, "wb") as f:
        f.write(raw[: len(raw) // 2])
    m = c = None
    m2 = meter({"tariff": FLAT, "credit": {"initial": 5000}, "token": TOK})
    return {"good": good, "credit": m2.credit.snapshot()["credit"],
            "corrupt": m2.credit._slots.corrupt,
            "again": m2.credit.enter_token(token(4, 4))["result"]}

# Relay policy scenarios: cut and hysteresis, confirmation, emergency and friendly credit,
# maximum power, low-credit warnings, manual override, bad config. Run by credit_check.py.
from credit_harness import meter, run, events, token, step, T0

TOU = {"rates": {"peak": "12.5", "std": 800, "off": "4.125"}, "default": "std",
       "windows": [{"rate": "peak", "days": ["weekday"], "from": "18:00", "to": "22:00"},
                   {"rate": "off", "from": "22:00", "to": "06:00"}]}
FLAT = {"rates": {"std": 1000}}
TOK = {"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010}


def s_cut():
    m = meter({"tariff": FLAT, "credit": {"initial": 300, "reconnect_min": 200}, "token": TOK},
              fresh=True)
    c = m.credit
    out = {"start": [c.relay_closed, c.relay_reason]}
    run(m, 3600, 1000.0)       # 1 kWh would cost 1000; only 300 there
    a = c.audit()
    out["cut"] = [c.relay_closed, c.relay_reason, c.snapshot()["credit"], m.energy.wh, a]
    out["relay_file"] = open(m.board.root + "/relay").read()
    out["ev"] = [(e["closed"], e["reason"]) for e in events(m, "relay")]
    r1 = c.enter_token(token(1, 2))          # 100: below reconnect_min
    run(m, 5, 1000.0)
    out["small"] = [r1["result"], r1["amount"], c.relay_closed, c.relay_reason]
    r2 = c.enter_token(token(2, 4))          # +200
    run(m, 5, 1000.0)
    out["enough"] = [r2["result"], c.relay_closed, c.relay_reason]
    return out


def s_confirm():
    m = meter({"tariff": FLAT, "credit": {"initial": 0, "reconnect_confirm": True},
               "token": TOK}, fresh=True)
    c = m.credit
    out = {"start": c.relay_reason, "noop": c.confirm_reconnect()["ok"]}
    c.enter_token(token(5, 2))
    run(m, 3, 500.0)
    out["after_topup"] = [c.relay_closed, c.relay_reason]
    out["confirm"] = c.confirm_reconnect()["ok"]
    run(m, 3, 500.0)
    out["after_confirm"] = [c.relay_closed, c.relay_reason]
    return out


def s_emergency():
    m = meter({"tariff": FLAT, "credit": {"initial": 50, "emergency": 500, "low_warn": 100,
                                          "debt_recovery_pct": 0}, "token": TOK}, fresh=True)
    c = m.credit
    out = {"avail": c.snapshot()["emergency_available"], "flags0": c.flags()}
    out["act"] = c.activate_emergency()
    out["again"] = c.activate_emergency()["ok"]
    run(m, 60, 1000.0)
    s = c.snapshot()
    out["using"] = [c.relay_closed, s["emergency_in_use"], c.flags(), s["credit"]]
    r = c.enter_token(token(10, 2))          # 1000: 500 repays emergency
    s = c.snapshot()
    out["topup"] = [r["amount"], r["message"], s["emergency_in_use"], s["credit"], c.flags()]
    out["ev"] = len(events(m, "emergency"))
    out["audit"] = c.audit()
    return out


def s_friendly():
    # friendly 18:00-23:00 every day; credit runs out inside the window
    m = meter({"tariff": FLAT, "credit": {"initial": 100, "reconnect_min": 50,
               "friendly": [{"days": ["all"], "from": "18:00", "to": "23:00"}]}}, fresh=True)
    c = m.credit
    m.utc = T0 + 18 * 3600
    run(m, 3600, 1000.0)        # 1 kWh = 1000 with 100 of credit
    s = c.snapshot()
    out = {"in": [c.relay_closed, c.relay_reason, s["credit"], s["debt"], c.flags()]}
    m.utc = T0 + 23 * 3600 - 5
    run(m, 10, 1000.0)
    s = c.snapshot()
    out["after"] = [c.relay_closed, c.relay_reason, s["debt"], c.flags()]
    out["audit"] = c.audit()
    return out


def s_maxpower():
    m = meter({"tariff": FLAT, "credit": {"initial": 1000000},
               "power": {"limit_w": 3000, "hold_s": 10, "retry_s": 60, "retries": 2}}, fresh=True)
    c = m.credit
    out = {}
    run(m, 9, 3500.0)
    out["before_hold"] = [c.relay_closed, c.relay_reason]
    run(m, 2, 3500.0)
    out["tripped"] = [c.relay_closed, c.relay_reason, c.retry_in_s]
    run(m, 50, 3500.0)
    out["retry_wait"] = [c.relay_closed, c.retry_in_s]
    run(m, 10, 3500.0)
    out["retried"] = [c.relay_closed, c.relay_reason]
    run(m, 200, 3500.0)        # trips again and gives up after 2 retries
    out["gave_up"] = [c.relay_closed, c.relay_reason]
    out["ev"] = [e["action"] for e in events(m, "power_limit")]
    m = c = None
    m2 = meter({"tariff": FLAT, "credit": {"initial": 1000000},
                "power": {"limit_w": 3000, "hold_s": 10, "retry_s": 60, "retries": 2}})
    out["after_reboot"] = [m2.credit.relay_closed, m2.credit.relay_reason]
    out["confirm"] = m2.credit.confirm_reconnect()["ok"]
    run(m2, 2, 1000.0)
    out["reset"] = [m2.credit.relay_closed, m2.credit.relay_reason]
    run(m2, 120, 1000.0)
    run(m2, 5, 3200.0)         # short spikes under hold_s do not trip
    out["spike"] = [m2.credit.relay_closed, m2.credit.relay_reason]
    return out


def s_low():
    m = meter({"tariff": FLAT, "credit": {"initial": 5500, "low_warn": 5000, "low_days": 3}},
              fresh=True)
    c = m.credit
    out = {"start": [c.snapshot()["low_amount"], c.snapshot()["days_left"]]}
    run(m, 600, 2000.0)         # 333 Wh: 5500 -> ~5167
    out["mid"] = [c.snapshot()["low_amount"], len(events(m, "low_credit"))]
    run(m, 600, 2000.0)
    out["low"] = [c.snapshot()["low_amount"], len(events(m, "low_credit")), c.snapshot()["credit"]]
    # a day of history: 1.2 kWh/day spent -> days left
    m.utc = T0 + 86400 + 60
    step(m, m.utc, 1000)
    s = c.snapshot()
    out["days"] = [s["days_left"], s["credit"], s["low_days"]]
    return out


def s_manual():
    m = meter({"tariff": FLAT, "credit": {"initial": 1000}}, fresh=True)
    c = m.credit
    out = {"off": c.set_manual("open")["ok"]}
    run(m, 2, 100.0)
    out["held_open"] = [c.relay_closed, c.relay_reason, c.snapshot()["manual"]]
    m = c = None
    m2 = meter({"tariff": FLAT, "credit": {"initial": 1000}})
    out["reboot"] = [m2.credit.relay_closed, m2.credit.relay_reason]
    out["auto"] = m2.credit.set_manual("auto")["ok"]
    run(m2, 2, 100.0)
    out["auto_state"] = [m2.credit.relay_closed, m2.credit.relay_reason]
    out["bad"] = m2.credit.set_manual("yes")["ok"]
    m2 = None
    m3 = meter({"tariff": FLAT, "credit": {"initial": 0}}, fresh=True)
    out["on_no_credit"] = m3.credit.set_manual("close")
    return out


def s_badconfig():
    m = meter({"tariff": {"rates": {"a": 1.5}, "windows": [{"rate": "b", "from": "25:00"}]},
               "credit": {"debt_recovery_pct": 150, "friendly": [{"days": ["funday"]}]},
               "token": {"key": "xyz", "digits": 10}}, fresh=True)
    c = m.credit
    step(m, T0, 1000)
    return {"errors": m.errors, "relay": [c.relay_closed, c.relay_reason]}

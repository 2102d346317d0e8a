# Token entry scenarios through credit.core.Credit: results and messages, replay and
# too-old codes, the lockout (doubling, capped, surviving a reboot), SET / DISABLE /
# COUNTER_SYNC, the extended and restricted-digit variants, a meter without a key.
# Run by credit_check.py under MicroPython; METER_SPEED makes lockouts pass quickly.
import os
import time

from credit_harness import meter, run, events, token

FLAT = {"rates": {"std": 1000}}
TOK = {"key": "bc41ec9530f6dac86b1a29ab82edc5fb", "starting_code": 516959010}
SPEED = int(os.getenv("METER_SPEED") or "1")


def wait(seconds):
    time.sleep_ms(seconds * 1000 // SPEED + 5)


def brief(r):
    return [r["result"], r["amount"], r["locked_s"], r["message"]]


def s_entry():
    m = meter({"tariff": FLAT, "token": TOK}, fresh=True)
    c = m.credit
    out = {"ok": brief(c.enter_token(token(5, 2)))}
    out["used"] = brief(c.enter_token(token(5, 2)))
    out["spaced"] = brief(c.enter_token(" " + token(7, 4)[:3] + "-" + token(7, 4)[3:6] + " "
                                        + token(7, 4)[6:]))
    c.enter_token(token(1, 40))
    out["older_unused"] = brief(c.enter_token(token(2, 36)))
    out["old"] = brief(c.enter_token(token(3, 20)))
    out["too_far"] = brief(c.enter_token(token(3, 40 + 66)))
    out["credit"] = c.snapshot()["credit"]
    out["count"] = c.snapshot()["token_count"]
    out["ev"] = [e["result"] for e in events(m, "token")]
    return out


def s_lockout():
    m = meter({"tariff": FLAT, "token": TOK}, fresh=True)
    c = m.credit
    out = {"first": [brief(c.enter_token(b)) for b in ("111111111", "12345", "22222222x")]}
    w = c.writes
    locks = []
    for _ in range(9):
        wait(c.snapshot()["lockout_s"])
        locks.append(c.enter_token("999999999")["locked_s"])
    out["locks"] = locks
    out["writes"] = c.writes - w
    out["while_locked"] = brief(c.enter_token(token(5, 2)))   # a good code waits too
    out["snap_lock"] = c.snapshot()["lockout_s"]
    m = c = None
    m2 = meter({"tariff": FLAT, "token": TOK})                  # reboot while locked
    c2 = m2.credit
    out["after_reboot"] = brief(c2.enter_token(token(5, 2)))
    out["snap_reboot"] = c2.snapshot()["lockout_s"]
    wait(1281)
    out["after_wait"] = brief(c2.enter_token(token(5, 2)))
    out["one_more_bad"] = brief(c2.enter_token("123123123"))  # counter was reset
    return out


def s_reboot_replay():
    m = meter({"tariff": FLAT, "token": TOK}, fresh=True)
    r = m.credit.enter_token(token(9, 2))
    bal = m.credit.snapshot()["credit"]
    m = None
    m2 = meter({"tariff": FLAT, "token": TOK})
    return {"first": r["result"], "again": brief(m2.credit.enter_token(token(9, 2))),
            "bal": [bal, m2.credit.snapshot()["credit"]]}


def s_modes():
    m = meter({"tariff": FLAT, "token": TOK, "credit": {"initial": 0}}, fresh=True)
    c = m.credit
    out = {"add": brief(c.enter_token(token(3, 2)))}
    out["set"] = brief(c.enter_token(token(20, 3, 2)))
    out["after_set"] = c.snapshot()["credit"]
    out["disable"] = brief(c.enter_token(token(None, 5, 3)))
    c.L.credit = 0                                           # spend it all, then keep going
    run(m, 600, 2000.0)
    s = c.snapshot()
    out["postpaid"] = [c.relay_closed, c.relay_reason, s["prepaid"], s["debt"] > 300]
    out["sync"] = brief(c.enter_token(token(None, 7, 4)))
    out["sync_again"] = brief(c.enter_token(token(None, 7, 4)))
    out["readd"] = brief(c.enter_token(token(50, 8)))
    out["prepaid"] = c.snapshot()["prepaid"]
    out["old_after_set"] = brief(c.enter_token(token(1, 6)))   # SET/SYNC marked the window
    return out


def s_extended():
    doc = {"tariff": FLAT, "token": {"key": TOK["key"], "starting_code": TOK["starting_code"],
                                     "digits": 12, "unit_minor": 1}}
    m = meter(doc, fresh=True)
    c = m.credit
    from prepay.opaygo import Codec
    cod = Codec(TOK["key"], TOK["starting_code"], True)
    out = {"big": brief(c.enter_token(cod.encode(123456, 2)))}
    out["nine"] = brief(c.enter_token(token(5, 4)))
    out["restricted"] = brief(c.enter_token(cod.encode(999999, 4, 1, True)))
    out["credit"] = c.snapshot()["credit"]
    return out


def s_restricted():
    m = meter({"tariff": FLAT, "token": TOK}, fresh=True)
    from prepay.opaygo import Codec
    t = Codec(TOK["key"], TOK["starting_code"]).encode(12, 2, 1, True)
    return {"len": len(t), "r": brief(m.credit.enter_token(t)),
            "bad_digit": brief(m.credit.enter_token(t[:-1] + "5"))}


def s_nokey():
    m = meter({"tariff": FLAT}, fresh=True)
    return {"r": brief(m.credit.enter_token("123456789"))}


def s_remote():
    """Issue 11 (c): codes delivered by the utility over MQTT (remote=True) pass a lockout
    that codes typed on the page started, and bad ones do not count toward it."""
    m = meter({"tariff": FLAT, "token": TOK}, fresh=True)
    c = m.credit
    for b in ("111111111", "222222222", "333333333"):
        c.enter_token(b)                                     # typed: the third one locks
    out = {"lock": c.snapshot()["lockout_s"]}
    out["typed_good"] = brief(c.enter_token(token(5, 2)))    # typed: refused, not decoded
    out["remote_good"] = brief(c.enter_token(token(5, 2), True))
    out["remote_bad"] = [brief(c.enter_token("444444444", True)) for _ in range(5)]
    snap = c.snapshot()
    out["after"] = [snap["lockout_s"], c.gate.fails, snap["token_rejected"],
                    snap["token_remote_rejected"], snap["credit"]]
    out["remote_used"] = brief(c.enter_token(token(5, 2), True))
    out["typed_still"] = brief(c.enter_token(token(6, 4)))[0]   # the consumer's lock holds
    out["tok"] = c.token_state()
    out["ev"] = [[e["result"], e.get("remote", False)] for e in events(m, "token")]
    return out

"""Prepaid credit and relay policy, run by the real device code (compiled bundle) under the
unix-port MicroPython with a capped heap (HEAP): pre-debit, flash-write budget, time-of-use money,
standing charge and debt, restore after power loss, corrupt/torn state, cut-off with
hysteresis, confirmation, emergency and friendly credit, max power, low credit, manual
override and config errors. Scenarios: tests/device/upy/cs_money.py and cs_relay.py."""
import pytest

import bundle
import upy

T0 = 1737331200
# The harness reboots meters inside one process of the 64-bit port, loading loose bytecode,
# and re-reads the settings table after the credit modules are in: a heap a real boot never
# has (it checks settings first, on a 32-bit board, from frozen code). 128k held with no
# margin: a checkout path 6 bytes longer tipped it over. The meter's own budget is proven
# where it is measured: tests/e2e/test_esp32_heap.py (32-bit) and tests/test_frozen.py.
HEAP = "160k"


def scenarios(tmp_path, module, *names):
    root = tmp_path / module
    root.mkdir()
    out = upy.run_json("credit_check.py", module, *names, METER_ROOT=root, METER_EPOCH=T0,
                       METER_SPEED=1000, MICROPYPATH=bundle.micropypath(), heap=HEAP)
    return {r["name"]: r for r in out}


@pytest.fixture(scope="module")
def money(tmp_path_factory):
    return scenarios(tmp_path_factory.mktemp("c"), "cs_money", "predebit", "tou", "standing",
                     "debt", "restore", "restore_reg", "corrupt", "torn")


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    return scenarios(tmp_path_factory.mktemp("c"), "cs_relay", "cut", "confirm", "emergency",
                     "friendly", "maxpower", "low", "manual", "badconfig")


def conserved(a):
    """Every unit that came in (credit given, tokens, debt and emergency credit still owed)
    is still the consumer's (credit, reserve) or was spent (energy, standing, forfeit)."""
    return (a["given"] + a["topped"] + a["debt"] + a["em_owed"]) * 10**6 == (
        a["credit"] * 10**6 + a["reserve_um"] + a["energy_um"] + a["standing"] * 10**6
        + a["forfeit_um"])


def test_predebit_write_budget_and_exact_money(money):
    r = money["predebit"]
    a = r["audit"]
    assert r["wh"] == 2000 and a["wh"] == 2000               # 2 kW for 1 h
    assert a["energy_um"] == 2000 * 1000 * 1000               # 1000 minor/kWh, exact
    assert r["load_writes"] <= 60                             # <= 1 write/min under load
    assert r["idle_writes"] == 0                              # idle: no writes at all
    assert 0 < r["ahead"] <= 8 + 34                           # pre-paid ahead: floor + quantum
    assert a["paid_wh"] >= a["wh"]                            # energy never ahead of money
    assert conserved(a)
    assert r["snap"]["state_writes"] == r["load_writes"] + 2  # first boot + first refill


def test_time_of_use_pricing_is_exact(money):
    r = money["tou"]
    per, rates, a = r["per"], r["rates"], r["audit"]
    assert sum(per.values()) == r["wh"] == 6000
    assert abs(per["std"] - 1000) <= 1 and per["peak"] == 4000 and abs(per["off"] - 1000) <= 1
    assert a["energy_um"] == sum(wh * rates[b] for b, wh in per.items())
    assert conserved(a)


def test_standing_charge_daily_with_carry(money):
    r = money["standing"]
    assert r["standing"] == 115               # 11 days x 10.500, carry keeps the half
    assert r["credit"] == 10000 - 115
    assert r["writes"] == 10                  # one write per new day, none for clock-back
    assert 900 <= r["days_left"] <= 950


def test_standing_charge_accrues_debt_and_topup_recovers_it(money):
    r = money["debt"]
    assert r["d0"] == 33 and r["debt3"] == 133    # 4 days x 33.333 at zero credit
    msg, credit, debt = r["topup"]
    assert (credit, debt) == (867, 0)             # 25 % of 1000 capped at the 133 owed
    assert "10.00 INR added" in msg and "1.33 INR repaid debt" in msg


def test_power_loss_restore_forfeits_at_most_one_quantum(money):
    r = money["restore"]
    b, a = r["before"], r["after"]
    wh_before, wh_after, last_reg = r["energy"]
    assert r["relay0"] is False              # stays open until settled
    assert wh_after >= wh_before             # register never goes back (journal, gateway)
    assert last_reg == -1                    # analog: no front-end register
    used, fwh, fminor = r["restored"]
    assert used == 0 and 0 < fwh <= 8 + 50 and fminor == fwh   # floor + quantum, 1 minor/Wh
    assert r["bal"][1] <= r["bal"][0]        # credit never rises without a token
    assert r["ev"] == 1
    assert conserved(a) and conserved(b)


def test_power_loss_with_pzem_register_bills_exactly(money):
    r = money["restore_reg"]
    used, fwh, fminor = r["restored"]
    wh_before, wh_after = r["energy"]
    assert fwh == 0 and fminor == 0          # nothing forfeited
    assert wh_after == wh_before             # the register picks up where it was
    assert 0 <= used <= r["saved_paid"] - (wh_before - used)
    assert r["bal"][1] == r["bal"][0]        # the used energy was already counted before
    assert conserved(r["audit"])


def test_corrupt_state_never_regrants_initial_credit(money):
    r = money["corrupt"]
    assert r["credit"] == 0 and r["ev"] == 1 and r["relay"] == "no_credit"


def test_torn_slot_falls_back_to_last_good(money):
    r = money["torn"]
    assert r["corrupt"] == 1
    assert r["credit"] <= r["good"] and r["good"] - r["credit"] <= 18   # minus the forfeit
    assert r["again"] == "accepted"         # the torn write's token was never credited


def test_cut_at_zero_and_reconnect_hysteresis(relay):
    r = relay["cut"]
    assert r["start"] == [True, "ok"]
    closed, reason, credit, wh, a = r["cut"]
    assert (closed, reason) == (False, "no_credit")
    assert credit < 8 and wh == a["wh"]          # cut with less than one window's cost left
    assert a["energy_um"] == wh * 10**6 and conserved(a)
    assert r["relay_file"] == "0"
    assert r["ev"] == [[True, "ok"], [False, "no_credit"]]
    assert r["small"] == ["accepted", 100, False, "no_credit"]   # 107 < reconnect_min 200
    assert r["enough"] == ["accepted", True, "ok"]


def test_reconnect_needs_consumer_confirmation(relay):
    r = relay["confirm"]
    assert r["start"] == "no_credit" and r["noop"] is False
    assert r["after_topup"] == [False, "confirm"]
    assert r["confirm"] is True and r["after_confirm"] == [True, "ok"]


def test_emergency_credit_once_and_repaid_from_next_topup(relay):
    r = relay["emergency"]
    assert r["avail"] == 500 and r["flags0"] == 0x04           # relay open before
    assert r["act"]["ok"] and r["act"]["amount"] == 500
    assert r["again"] is False
    closed, in_use, flags, credit = r["using"]
    assert closed and in_use == 500 and flags == 0x40          # F_EMERGENCY
    amount, msg, in_use, credit2, flags = r["topup"]
    assert amount == 1000 and in_use == 0 and flags == 0
    assert credit2 == credit + 500 and "5.00 INR repaid emergency credit" in msg
    assert r["ev"] == 1
    assert conserved(r["audit"])


def test_friendly_hours_keep_supply_on_debt_then_cut(relay):
    r = relay["friendly"]
    closed, reason, credit, debt, flags = r["in"]
    assert closed and reason == "friendly" and debt > 800 and flags == 0x20   # F_FRIENDLY
    closed, reason, debt2, flags = r["after"]
    assert (closed, reason) == (False, "no_credit") and flags == 0x04
    assert debt2 >= debt
    assert conserved(r["audit"])


def test_max_power_trip_retry_give_up_like_tasmota(relay):
    r = relay["maxpower"]
    assert r["before_hold"] == [True, "ok"]
    assert r["tripped"] == [False, "power_limit", 59]
    assert r["retry_wait"] == [False, 9]
    assert r["retried"] == [True, "ok"]
    assert r["gave_up"] == [False, "gave_up"]
    assert r["ev"] == ["trip", "retry", "trip", "retry", "gave_up"]
    assert r["after_reboot"] == [False, "gave_up"]       # survives a reboot
    assert r["confirm"] is True and r["reset"] == [True, "ok"]
    assert r["spike"] == [True, "ok"]                    # under hold_s: no trip


def test_low_credit_warnings_by_amount_and_days(relay):
    r = relay["low"]
    assert r["start"] == [False, None]
    assert r["mid"] == [False, 0]
    assert r["low"][:2] == [True, 1]                     # one event on crossing
    days, credit, low_days = r["days"]
    assert days == credit // 667 and low_days is False   # 667 spent in the last day


def test_manual_override_within_policy(relay):
    r = relay["manual"]
    assert r["off"] is True and r["held_open"] == [False, "manual", False]
    assert r["reboot"] == [False, "manual"]
    assert r["auto"] is True and r["auto_state"] == [True, "ok"]
    assert r["bad"] is False
    assert r["on_no_credit"]["ok"] is False and "No credit" in r["on_no_credit"]["message"]


def test_bad_config_is_reported_and_relay_stays_open(relay):
    r = relay["badconfig"]
    e = " | ".join(r["errors"])
    for part in ("credit.debt_recovery_pct: must be 0..100 (got 150)",
                 "tariff.rates.a: use an integer or a decimal string",
                 "tariff.windows[0].rate: must name one of the rates",
                 "credit.friendly[0].days: 'funday' is not one of",
                 "token.digits: must be 9 (standard) or 12 (extended)",
                 "token.key: must be 32 hexadecimal digits"):
        assert part in e
    assert r["relay"] == [False, "config"]

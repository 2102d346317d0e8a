"""The meter's own days left (device/credit/days.py) by the one rule (prepay/days_left.py):
the meter runs it under the unix-port MicroPython, through the real credit stage fed in
10-minute windows, and must say what the gateway's forecast (prepay/forecast.py on CPython,
its history filled from 30-minute slots as gateway/forecasts.py fills it) says for the same
week and the credit the meter reports: a constant load, a weekly pattern, a step change, a
time-of-use tariff with a standing charge, and two days of history. Also: the week survives
a restart, and state saved by older firmware restores without error."""
import pytest

import upy
from prepay.forecast import History, days_left
from prepay.tariff import Tariff

from test_credit import scenarios

cases = upy.check_module("days_cases")
HOUR = 3600


@pytest.fixture(scope="module")
def days(tmp_path_factory):
    return scenarios(tmp_path_factory.mktemp("d"), "cs_days", "weeks", "restart", "bad_week",
                     "old_state")


def gateway(case, credit, now):
    """The gateway's estimate: its History from 30-minute slots of the same use."""
    h = History()
    t = cases.T0
    for hours, w in case["runs"]:
        for _ in range(hours):
            h.add(t, w // 2)
            h.add(t + 1800, w - w // 2)
            t += HOUR
    return days_left(h, Tariff(case["tariff"]), credit, now)


@pytest.mark.parametrize("name", sorted(cases.CASES))
def test_meter_and_gateway_agree(days, name):
    case = cases.CASES[name]
    got = days["weeks"]["cases"][name]
    n = cases.hours_of(case)
    assert got["closed"] and got["t"] == cases.T0 + n * HOUR
    e = gateway(case, got["credit"], got["t"])
    assert e.hours == n == got["days_h"]
    assert e.seconds is not None and got["left_s"] == e.seconds
    assert got["days_left"] == e.seconds // 86400 and got["need"] == 0


def test_week_survives_a_restart(days):
    r = days["restart"]
    left_s, used_h, first, last = r["before"]
    assert used_h == 30 and last - first == 30          # hour 30 in progress
    assert r["hours"][:30] == [1000] * 30 and r["hours"][30] > 0
    assert r["chart"] == r["hours"][-3:]                # the page's hours are the week's
    # saved on the hour change: the hour in progress at the restart is lost, no more
    assert r["after"] == [first, last - 1]
    assert r["restored"][:30] == [1000] * 30
    # the same hours; the credit moved a little (20 minutes' use, the restore's settling)
    assert r["estimate"][1] == 30 and abs(r["estimate"][0] - left_s) <= left_s // 20
    assert r["corrupt"] == 0


def test_a_bad_week_on_flash_starts_empty(days):
    r = days["bad_week"]
    # each found corrupt, the meter meters on, and a new week begins
    for name in ("short", "text", "keys"):
        corrupt, used_h, closed = r[name]
        assert corrupt >= 1 and closed and used_h >= 1, (name, r[name])


def test_old_firmware_state_restores(days):
    r = days["old_state"]
    assert r["corrupt"] == 0 and r["rollup_corrupt"] == 0
    # this month's spend kept (today's too, unless the boot step's clock is a day on)
    assert r["spent"][1] == r["want"][1] > 0 and r["spent"][0] in (r["want"][0], 0)
    assert r["days"] == [None, 0, 1]      # no week on flash yet: needs an hour of use
    assert r["hourly"] == [0, 0, 0]       # the old rollup's own hours are not used

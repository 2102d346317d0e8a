"""The meter's clock (device/clock.py) on meters running the frozen firmware: NTP over real
UDP (the ntptime stand-in, host_tools/esp32_standins) to a responder on loopback while the
WiFi link is up, and the gateway's time command as the fallback when NTP is unreachable.
Both meters boot with a clock that was never set."""
import json
import time
import urllib.request

import pytest

from broker import Broker, free_port
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools.fleet import Fleet
from ntpd import Ntpd
from test_esp32_board import TeleWatch, wait_until

SPEED = 60


def status(m):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/status" % m.web_port, timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


@pytest.fixture
def meter(tmp_path):
    made = []

    def make(silent):
        port = free_port()
        store = Store(tmp_path / "gw.db")
        fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=1, speed=SPEED, source="pzem",
                      store=store, web_port=free_port(),
                      config={"ntp": {"host": "127.0.0.1", "timeout_ms": 80},
                              "mqtt": {"tele_s": 60}})
        ntpd = Ntpd(fleet.meter_time, silent=silent)
        ntpd.start()
        fleet.env["NTP_PORT"] = ntpd.port
        broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
        ing = Ingest(store, "127.0.0.1", broker.gw_port, *fleet.gateway,
                     clock=fleet.meter_time, client_id="gw-clock").start()
        tele = TeleWatch(broker.gw_port, *fleet.gateway)   # the gateway's own listener
        assert ing.wait_connected()
        made.append((fleet, ntpd, ing, store, broker, tele))
        fleet.start()
        return fleet, ntpd, ing, store, tele
    yield make
    for fleet, ntpd, ing, store, broker, tele in made:
        fleet.stop()
        tele.stop()
        ntpd.stop()
        ing.stop()
        store.close()
        broker.stop()


def test_ntp_sets_the_clock_when_reachable(meter):
    fleet, ntpd, ing, store, tele = meter(silent=False)
    m = fleet[0]
    st = wait_until(lambda: (status(m) or {}).get("clock", {}).get("source") == "ntp"
                    and status(m), 30)
    assert st, m.console()[-2000:]
    assert st["rtc_valid"] and st["clock"]["ntp_ok"] >= 1 and ntpd.queries >= 1
    assert abs(st["time"] - fleet.meter_time()) <= 2 * SPEED
    t = wait_until(lambda: tele.last.get(m.id, {}).get("clock") == "ntp" and tele.last[m.id],
                   20)
    assert t and t["rtc"] is True

    def synced():
        return [json.loads(r["data"])["src"] for r in store.query(
            "SELECT data FROM events WHERE kind='time_sync'")]
    # the first set of the clock is an event; which source came first is a race (the
    # gateway answers the meter's time request as soon as MQTT is up)
    assert set(wait_until(synced, 20)) <= {"ntp", "gateway"} and synced()


def test_unreachable_ntp_falls_back_to_the_gateway(meter):
    fleet, ntpd, ing, store, tele = meter(silent=True)
    m = fleet[0]
    st = wait_until(lambda: (status(m) or {}).get("clock", {}).get("ntp_fails", 0) >= 1
                    and status(m), 30)
    assert st, m.console()[-2000:]
    st = wait_until(lambda: (status(m) or {}).get("clock", {}).get("source") == "gateway"
                    and status(m), 30)
    assert st and st["rtc_valid"], m.console()[-2000:]
    assert st["clock"]["ntp_ok"] == 0 and "116" in st["clock"]["last_error"]  # ETIMEDOUT
    assert abs(st["time"] - fleet.meter_time()) <= 2 * SPEED
    assert ing.stats["time_served"] >= 1
    assert wait_until(lambda: tele.last.get(m.id, {}).get("clock") == "gateway", 20)

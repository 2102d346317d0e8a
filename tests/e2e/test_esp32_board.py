"""The ESP32 board files on the unix port: boards/esp32_pzem booted through main.py with
the firmware frozen in (host_tools/frozen.py), on the ESP32 stand-ins for what cannot exist
here (host_tools/esp32_standins: network.WLAN and its simulated access point, machine.UART
on the PZEM simulator's pty, Pin, RTC, reset causes), against a real mosquitto and the real
gateway ingest. The meter's only way to the broker and to its page is its WiFi link
(host_tools/wifiworld.py), so a station that has not joined, or has lost its AP, really has
no network."""
import hashlib
import json
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from broker import Broker, free_port
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools.fleet import Fleet
from host_tools.wifiworld import SetupAP
from test_gateway_fleet import wait_until     # a predicate's first true value
from test_sync_e2e import check_exactly_once, journal_records, topup

AP_ADDR = "192.168.4.1"     # the ESP32's own soft-AP address: the page answers to it


class TeleWatch:
    """The newest telemetry of every meter, read with the gateway's credentials on the
    broker's gateway listener (Broker.gw_port: on the meters' listener the client id is the
    username, so this client and the ingest would take each other's session)."""

    def __init__(self, port, user, password):
        self.last = {}
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="esp32-tele")
        self.c.username_pw_set(user, password)
        self.c.on_connect = lambda c, u, f, r, p: c.subscribe("pm/+/tele", 0)
        self.c.on_message = lambda c, u, m: self.last.__setitem__(m.topic.split("/")[1],
                                                                   json.loads(m.payload))
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()

    def stop(self):
        self.c.loop_stop()
        self.c.disconnect()


def status(port, host=None):
    """GET /api/status, or None when the page cannot be reached."""
    req = urllib.request.Request("http://127.0.0.1:%d/api/status" % port)
    if host:
        req.add_header("Host", host)
    try:
        with urllib.request.urlopen(req, timeout=5) as r:
            return json.loads(r.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


@pytest.fixture
def rig(tmp_path):
    made = []

    def make(wifi=None, extra=None, board="esp32_pzem"):
        cfg = dict({"journal": {"interval_s": 2}, "mqtt": {"tele_s": 2}}, **(extra or {}))
        if wifi:
            cfg["wifi"] = wifi
        port = free_port()
        store = Store(tmp_path / "gw.db")
        fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=1, source=board[6:],
                      store=store, board=board, web_port=free_port(),
                      config=cfg)
        broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
        ing = Ingest(store, "127.0.0.1", broker.gw_port, *fleet.gateway,
                     clock=lambda: int(time.time()), client_id="gw-esp32").start()
        tele = TeleWatch(broker.gw_port, *fleet.gateway)   # the gateway's own listener
        assert ing.wait_connected()
        made.append((fleet, tele, ing, store, broker))
        return fleet, tele, ing, store
    yield make
    for fleet, tele, ing, store, broker in made:
        fleet.stop()
        tele.stop()
        ing.stop()
        store.close()
        broker.stop()


def test_esp32_pzem_joins_syncs_serves_and_survives_an_ap_loss(rig):
    fleet, tele, ing, store = rig()
    m = fleet[0]
    page = fleet.link.route(m.world, "127.0.0.1", m.web_port)  # the page, over its WiFi
    fleet.start()
    try:
        assert status(page) is None          # not joined yet: no network, no page
        st = wait_until(lambda: status(page), 30)
        assert st, m.console()[-2000:]
        assert st["net"]["state"] == "got IP" and st["net"]["ip"] == "127.0.0.1"
        assert wait_until(lambda: store.meter(m.id)["online"], 20), m.console()[-2000:]
        # the RTC started at 2000 (no battery): the gateway's time command set it
        assert wait_until(lambda: (status(page) or {}).get("rtc_valid"), 20)
        assert wait_until(lambda: store.high_contiguous(m.id) >= 3, 30), m.console()[-2000:]
        t = wait_until(lambda: tele.last.get(m.id), 10)
        assert t["net"] == "got IP" and t["net_tries"] == 1 and t["net_drops"] == 0
        assert t["status"] == "ok" and t["v"] > 100       # the PZEM simulator, over the UART

        m.world.ap(False)                    # the access point goes away for a while
        assert wait_until(lambda: not store.meter(m.id)["online"], 40)
        assert status(page) is None
        offline_from = max(journal_records(m.root))
        assert wait_until(lambda: max(journal_records(m.root)) >= offline_from + 4, 30)
        m.world.ap(True)
        assert wait_until(lambda: (status(page) or {}).get("net", {}).get("drops") == 1, 30)
        mark = max(journal_records(m.root))
        assert wait_until(lambda: store.high_contiguous(m.id) >= mark, 40), m.console()[-2000:]
        t = wait_until(lambda: tele.last.get(m.id, {}).get("net_drops") == 1
                       and tele.last[m.id], 20)
        assert t["net"] == "got IP" and t["net_tries"] == 2
    finally:
        fleet.stop()
    check_exactly_once(store, fleet, {m.id: mark})
    assert fleet.link.cuts >= 1              # the AP loss really cut its connections


def test_esp32_analog_boots_joins_and_syncs(rig):
    """The analog board's files boot whole too (its ADC stand-in reads mid-rail: no signal,
    so 0 V and 0 W are metered, honestly; the sampler's maths has its own test)."""
    fleet, tele, ing, store = rig(board="esp32_analog")
    m = fleet[0]
    fleet.start()
    try:
        assert wait_until(lambda: store.meter(m.id)["online"], 40), m.console()[-2000:]
        assert wait_until(lambda: store.high_contiguous(m.id) >= 2, 30), m.console()[-2000:]
        t = wait_until(lambda: tele.last.get(m.id), 20)
        assert t["net"] == "got IP" and t["p"] == 0 and t["errors"] == 0
        st = status(m.web_port, AP_ADDR)
        assert st["windows"] > 0 and st["net"]["state"] == "got IP", st
    finally:
        fleet.stop()


def test_esp32_wrong_password_is_reported_in_words(rig):
    fleet, tele, ing, store = rig(wifi={"ssid": "fleet-ap", "password": "not-the-pw"})
    m = fleet[0]
    fleet.start()
    try:
        # no network: the page is read where the owner would, at the meter's own address
        st = wait_until(lambda: (status(m.web_port, AP_ADDR) or {}).get("net", {}).get(
            "state") == "wrong password" and status(m.web_port, AP_ADDR), 30)
        assert st, m.console()[-2000:]
        assert st["net"]["up"] is False and st["sync"]["online"] is False
        assert not store.meter(m.id)["online"]
        # a join that gets no IP in 15 s is abandoned and, after a backoff, started again
        st = wait_until(lambda: (status(m.web_port, AP_ADDR) or {}).get("net", {}).get(
            "attempts", 0) >= 2 and status(m.web_port, AP_ADDR), 40)
        assert st and st["net"]["fails"] >= 1, st
        m.world.set(password="not-the-pw")   # the site's AP password is what the meter has
        assert wait_until(lambda: store.meter(m.id)["online"], 60), m.console()[-2000:]
        t = wait_until(lambda: tele.last.get(m.id), 20)
        assert t["net"] == "got IP" and t["net_tries"] >= 2
    finally:
        fleet.stop()


def live(port):
    try:
        with urllib.request.urlopen("http://127.0.0.1:%d/api/live" % port, timeout=5) as r:
            return json.loads(r.read())
    except OSError:
        return None


def test_hung_task_watchdog_reset_boots_with_state_intact(rig):
    """A read stuck in the UART driver holds the event loop; the watchdog is not fed, the
    chip resets (the WDT stand-in ends the process, the harness starts it again as the chip
    would restart) and the meter boots with its credit, energy and journal, says why, and
    the gateway gets every record once."""
    fleet, tele, ing, store = rig(extra={"wdt": {"timeout_s": 8}})
    m = fleet[0]
    fleet.start()
    try:
        assert wait_until(lambda: store.meter(m.id)["online"], 30), m.console()[-2000:]
        topup(store, ing, m.id)
        before = wait_until(lambda: (live(m.web_port) or {}).get("credit", {}).get("credit", 0)
                            > 0 and live(m.web_port), 20)
        assert before, m.console()[-2000:]
        assert wait_until(lambda: store.high_contiguous(m.id) >= 3, 30)
        (m.root / "uart.hang").write_text("1")       # the next read never returns
        t0 = time.monotonic()
        assert wait_until(lambda: m.proc.poll() is not None, 30), "the watchdog never bit"
        assert m.proc.returncode == -10              # SIGUSR1: the WDT stand-in's reset
        hung_for = time.monotonic() - t0
        mark = max(journal_records(m.root))
        (m.root / "uart.hang").unlink()              # the fault does not survive the reset
        m.start()
        after = wait_until(lambda: live(m.web_port), 30)
        assert after, m.console()[-2000:]
        st = status(m.web_port, AP_ADDR)
        assert st["clock"]["source"] == "rtc"        # the RTC counted on through the reset
        # credit and energy as they were (the pre-paid head covers what was used meanwhile)
        assert after["energy"]["wh"] >= before["energy"]["wh"]
        assert 0 < after["credit"]["credit"] <= before["credit"]["credit"]
        boots = wait_until(lambda: [json.loads(r["data"]) for r in store.query(
            "SELECT data FROM events WHERE kind='boot'") if json.loads(r["data"])["reset"]
            == "wdt"], 30)
        assert boots and boots[0]["stalled"] == "event loop", boots
        assert wait_until(lambda: store.high_contiguous(m.id) >= mark, 40), m.console()[-2000:]
    finally:
        fleet.stop()
    assert "WDT: not fed" in m.console()
    check_exactly_once(store, fleet, {m.id: mark})
    print("\nwatchdog: reset %.1f s after the hang (wdt.timeout_s 8); %d records, exactly once"
          % (hung_for, mark))


def post(port, path, body, session=None):
    """POST JSON to the page at port as the meter's own address names it; (status, JSON)."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), method="POST",
                                 data=json.dumps(body).encode(),
                                 headers={"Host": AP_ADDR, "Content-Type": "application/json"})
    if session:
        req.add_header("Authorization", "Bearer " + session)
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def test_first_setup_over_the_meters_own_access_point(rig):
    """Provisioned without a WiFi network, the meter opens its own WPA2 access point
    meter-<id> (its per-meter password from provisioning); a phone on it reaches the page,
    the owner sets the site's WiFi behind the PIN and restarts, and the meter joins it and
    syncs. A wrong AP password gets nothing, and without the station nothing is reachable."""
    salt, pin = "5a17", "4321"
    fleet, tele, ing, store = rig(wifi={"ssid": ""}, extra={"web": {
        "pin_salt": salt, "pin_hash": hashlib.sha256((salt + pin).encode()).hexdigest()}})
    m = fleet[0]
    essid = "meter-" + m.id
    ap_password = fleet.prov.meter(m.id)["ap_password"]
    phone = fleet.link.route(SetupAP(m.root, essid, ap_password), "127.0.0.1", m.web_port)
    stranger = fleet.link.route(SetupAP(m.root, essid, "guessing-it"), "127.0.0.1", m.web_port)
    station = fleet.link.route(m.world, "127.0.0.1", m.web_port)
    fleet.start()
    try:
        st = wait_until(lambda: status(phone, AP_ADDR), 30)
        assert st, m.console()[-2000:]
        assert st["net"]["state"] == "setup access point" and st["net"]["ap"] == essid
        assert json.loads((m.root / "wlan_ap.json").read_text())["authmode"] == 3   # WPA2
        assert status(stranger, AP_ADDR) is None and status(station) is None
        assert not store.meter(m.id)["online"]
        code, r = post(phone, "/api/admin/login", {"pin": pin})
        assert code == 200, r
        session = r["session"]
        code, r = post(phone, "/api/admin/settings", {"settings": {
            "wifi.ssid": "fleet-ap", "wifi.password": "fleet-pass-1"}}, session)
        assert code == 200 and r["ok"], r
        code, r = post(phone, "/api/admin/restart", {}, session)
        assert code == 200, r
        assert wait_until(lambda: m.proc.poll() is not None, 20), "no restart"
        assert m.proc.returncode == 3            # machine.reset(): the harness restarts it
        m.start()
        assert wait_until(lambda: store.meter(m.id)["online"], 40), m.console()[-2000:]
        st = wait_until(lambda: status(station), 20)
        assert st and st["net"]["state"] == "got IP" and st["net"]["ap"] == ""
        boots = wait_until(lambda: [json.loads(r["data"]) for r in store.query(
            "SELECT data FROM events WHERE kind='boot'")], 20)
        assert boots[-1]["reset"] == "hard", boots
    finally:
        fleet.stop()

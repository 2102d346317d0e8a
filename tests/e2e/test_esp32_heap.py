"""The loose .mpy bundle on the ESP32's heap: stock MicroPython built as the 32-bit unix port
(host_tools/frozen.py interpreter(32), the ESP32's object sizes) running the bundle exactly
as host_tools.flash copies it to a board (compiled for x86). The ESP32's budget is
-X heapsize=100k (fleet HEAP32, an ESP32 without PSRAM), and the loose bundle no longer fits
it: since the WiFi, clock and watchdog tasks came, its net task hits MemoryError there even
without the page (104k fails too). So these run it at LOOSE_HEAP (124k), and the README says
that a board needs the frozen image. The complete firmware does not fit even there: its page
needs more than is left (README "Memory"; make bench prints the figures), and the firmware
says so and meters on without it. The first test runs the meter without its page (metering,
credit, journal, MQTT sync over TLS, as deployed): two meters take a token over MQTT (a
config command may be answered `busy`), then ride out broker kills, a network loss and a
power loss, and the gateway must hold every journaled record exactly once. A second test
shows what a meter flashed with the page enabled does."""
import json
import os
import random
import threading
import time

import paho.mqtt.client as mqtt

from broker import Broker, free_port
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools.fleet import Fleet
from prepay import opaygo
from test_sync_e2e import T0, check_exactly_once, journal_records, online_and_topped_up
from waits import wait_until

SPEED = 1440            # one simulated day per real minute
SECONDS = 30            # half a meter-day of trouble
# Since the WiFi, clock and watchdog tasks came, the loose bundle no longer boots its sync in
# HEAP32 (100k): the net task hits MemoryError. These tests run it where it does, and the
# README says the loose bundle no longer fits an ESP32's budget (the frozen image does).
# 112k until the power-quality stage (device/measure/quality.py: 3.7 KB of loose code and
# 0.6 KB of state on this port) came: then the net task hit MemoryError at 112k, not at 116k.
# 116k -> 120k when Meter, Credit and Sync got real constructors (+0.7 KB resident) and the
# config problems became catalogue data: at 116k the net task hit MemoryError in 2 of 4
# unloaded runs of the page soak; at 120k, 3 of 3 passed.
# The meter's own days left (credit/days.py: +2.5 KB resident after boot, a token no longer
# leaving credit/views.py resident: -1.1 KB) left 120k as it was: 7 of 7 runs passed; 118k
# failed in 1 of 2, 116k in 4 of 4 (main passed at 116k in 1 of 1 run beside them).
# The soak runs at 124k: 120k is the measured need with a margin of about 2 KB, thinner
# than a loaded CI machine's task interleaving may leave (a failure here says nothing the
# figures above do not); LOOSE_HEAP=120k runs it at the need.
LOOSE_HEAP = os.environ.get("LOOSE_HEAP", "124k")


class Results(threading.Thread):
    """Every meter's answers to commands (pm/<id>/res), read with the gateway's account."""

    def __init__(self, host, port, user, password, ca=None):
        super().__init__(daemon=True)
        self.got = []
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="res-watch")
        c.username_pw_set(user, password)
        if ca:
            c.tls_set(ca_certs=str(ca))
        c.on_connect = lambda c, u, f, r, p: c.subscribe([("pm/+/res", 1), ("pm/+/evt", 1), ("pm/+/tele", 0), ("pm/+/info", 1)])
        c.on_message = lambda c, u, m: self.got.append((m.topic, json.loads(m.payload)))
        c.reconnect_delay_set(0.1, 1)
        c.connect_async(host, port)
        c.loop_start()

    def res(self, meter_id, rid):
        return [d for t, d in self.got if t == "pm/%s/res" % meter_id and d.get("id") == rid]

    def answer(self, ing, meter_id, kind, timeout=30, **fields):
        """Send a command until the meter answers it other than `busy` (its command found no
        memory: docs/protocol.md), as the gateway's outbox re-sends it; -> every answer."""
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            n = len(self.res(meter_id, fields["id"]))
            assert ing.send_command(meter_id, kind, **fields)
            wait_until(lambda: len(self.res(meter_id, fields["id"])) > n, 5)
            got = self.res(meter_id, fields["id"])
            if got and got[-1].get("error") != "busy":
                break
            time.sleep(1)
        return self.res(meter_id, fields["id"])

    def events(self, meter_id, kind):
        return [d for t, d in self.got if t == "pm/%s/evt" % meter_id and d.get("kind") == kind]

    def stop(self):
        self.c.loop_stop()


def _fleet(tmp_path, web_port, sources=("analog", "pzem"), tls=None):
    """Meters on the loose bundle, 32-bit, 100k; with `tls` (a CA), MQTT over TLS only."""
    port = free_port()
    store = Store(tmp_path / "gw.db")
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=len(sources), speed=SPEED,
                  source=list(sources), store=store, epoch=T0, firmware="loose32", heap=LOOSE_HEAP,
                  config={"mqtt": {"tele_s": 600}}, web_port=web_port,
                  ca=tls.ca if tls else None)
    listen = {"tls": tls, "tls_port": port, "plain": False} if tls else {"port": port}
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, **listen).start()
    ing = Ingest(store, "127.0.0.1", broker.gw_port, *fleet.gateway, clock=fleet.meter_time,
                 client_id="gw-esp32", ca=tls.ca if tls else None).start()
    watch = Results("127.0.0.1", broker.gw_port, *fleet.gateway, ca=tls.ca if tls else None)
    return fleet, store, broker, ing, watch


def _stop(fleet, watch, broker, ing):
    """Stop the soak's parts, also when the test fails: no broker or meter outlives it."""
    fleet.stop()
    watch.stop()
    broker.stop()
    time.sleep(0.5)
    ing.stop()


def test_loose_bundle_without_page(tmp_path, tls_ca):
    fleet, store, broker, ing, watch = _fleet(tmp_path, 0, tls=tls_ca)
    assert fleet.heap == LOOSE_HEAP
    rnd = random.Random(32)
    fleet.start()
    try:
        assert ing.wait_connected()
        # boot from .mpy files, the WiFi join and a TLS handshake on the 32-bit port took
        # over 20 s on a loaded machine (other builds and tests running)
        assert wait_until(lambda: all(store.meter(m.id)["online"] for m in fleet), 60), \
            [m.console()[-600:] for m in fleet]
        # the token is re-sent while the meter answers `busy` (its codec found no memory on
        # this heap), as the gateway's outbox does; CI saw one such answer
        tokens = {}
        for m in fleet:
            key, start = store.secret(m.id)
            code = opaygo.Codec(key, start).vend(900, 0)[0]
            tokens[m.id] = watch.answer(ing, m.id, "token", timeout=30, id="tx-e2e", code=code)
        # a config update validates the whole settings table: on 100k it finds no memory
        # and is answered busy each time (README "Memory": it needs ~104k), never lost
        config = watch.answer(ing, fleet[0].id, "config", timeout=8, id="cfg-1",
                              set={"mqtt": {"tele_s": 300}})
        plan = [(rnd.uniform(1, SECONDS - 2), "broker") for _ in range(8)]
        plan += [(0.3 * SECONDS, "down"), (0.3 * SECONDS + 2 * 3600 / SPEED, "up"),
                 (0.6 * SECONDS, "power")]
        plan.sort()
        start = time.monotonic()
        for at, what in plan:
            time.sleep(max(0.0, start + at - time.monotonic()))
            if what == "broker":
                broker.restart(kill=rnd.random() < 0.8, down_s=rnd.uniform(0.1, 1.0))
            elif what == "down":
                fleet.net_down(0)
            elif what == "up":
                fleet.net_up(0)
            else:
                fleet.kill(1)
                time.sleep(0.5)
                fleet[1].start()
        time.sleep(max(0.0, start + SECONDS - time.monotonic()))
        alive = [m.running for m in fleet]
        marks = {m.id: max(journal_records(m.root)) for m in fleet}
        drained = wait_until(lambda: all(store.high_contiguous(k) >= v
                                         for k, v in marks.items()), 60)
    finally:
        _stop(fleet, watch, broker, ing)
    consoles = {m.id: m.console() for m in fleet}
    assert alive == [True, True], consoles
    assert drained, ({k: (v, store.high_contiguous(k)) for k, v in marks.items()}, consoles)
    for m in fleet:
        assert "MemoryError" not in consoles[m.id] and "Traceback" not in consoles[m.id], \
            consoles[m.id][-3000:]
        *busy, res = tokens[m.id]
        assert res["ok"] and res["credit"] > 0, tokens[m.id]
        assert all(r["error"] == "busy" for r in busy), tokens[m.id]
    assert config and all(r["ok"] or r["error"] == "busy" for r in config), config
    cfg = json.loads((fleet[0].root / "config.json").read_text())
    assert cfg["mqtt"]["tele_s"] == (300 if config[-1]["ok"] else 600)
    rows = check_exactly_once(store, fleet, marks)
    print("\nloose .mpy bundle, 32-bit port, -X heapsize=%s, no page, MQTT over TLS: tokens "
          "accepted; config %s after %d busy answer(s); 8 broker restarts, 2 h network "
          "loss, a power loss; records at the gateway (exactly once) %s"
          % (fleet.heap, "applied" if config[-1]["ok"] else "not applied",
             len(config) - (1 if config[-1]["ok"] else 0),
             {k: n for k, (n, _) in rows.items()}))
    assert all(n >= 600 for n, _ in rows.values())     # ~720 one-minute records in 12 h
    store.close()


def test_loose_bundle_with_page_meters_without_it(tmp_path):
    """What a board flashed with the loose bundle and its page enabled does on 100k: the page
    cannot be built (README "Memory": it needs ~30 KB more), the firmware says so on the
    console and to the gateway (web_off), and meters and syncs without it. A token command is
    answered, never lost: accepted, or `busy` when the codec finds no memory (README
    "Status"). When the firmware shrinks enough to serve its page here, this fails: update
    the README."""
    fleet, store, broker, ing, watch = _fleet(tmp_path, free_port(), sources=("analog",))
    m = fleet[0]
    fleet.start()
    try:
        assert ing.wait_connected()
        assert wait_until(lambda: watch.events(m.id, "web_off"), 20), \
            (watch.got, m.console()[-1500:])
        online_and_topped_up(fleet, store, ing)
        assert wait_until(lambda: watch.res(m.id, "tx-e2e"), 20), \
            (watch.got[-5:], m.console()[-1500:])
        time.sleep(3)
        alive = m.running
        mark = max(journal_records(m.root))
        drained = wait_until(lambda: store.high_contiguous(m.id) >= mark, 30)
    finally:
        _stop(fleet, watch, broker, ing)
    console = m.console()
    assert alive and drained, console[-3000:]
    assert "web: not enough memory; page disabled" in console
    assert "Traceback" not in console, console[-3000:]
    (off,) = watch.events(m.id, "web_off")
    assert off["error"] == "memory", off
    res = watch.res(m.id, "tx-e2e")[0]
    assert res["ok"] or res["error"] == "busy", res
    assert mark >= 60                    # an hour of meter time, metered and journaled
    check_exactly_once(store, fleet, {m.id: mark})
    store.close()

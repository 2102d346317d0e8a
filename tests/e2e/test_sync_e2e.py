"""Nothing lost, nothing doubled: unix-port meters running the complete firmware (frozen
into the unix port as a device ships it, with its web page, under the fleet's heap (fleet.HEAP):
host_tools/fleet.py) sync with the real gateway ingest through a real
mosquitto that is killed and restarted at random, while meters lose their network for
hours of meter time and one loses power. Afterwards the gateway must hold every record the
meters journaled exactly once, bit for bit, with no gaps. A second test keeps a meter
offline for 7 simulated days and measures the catch-up. Figures are printed (-s)."""
import json
import random
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

import upy
from broker import Broker, free_port
from waits import wait_until
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools.fleet import Fleet
from prepay import opaygo, record

T0 = 1767225600            # 2026-01-01 00:00 UTC
DAY = 86400


def journal_records(root):
    """{seq: record tuple} of every good record in a meter's flash journal files."""
    out = {}
    for seg in sorted(Path(root, "journal").glob("s[0-9][0-9]")):
        data = seg.read_bytes()
        for off in range(16, len(data) - record.SIZE + 1, record.SIZE):
            r = record.unpack(data, off)
            if r is not None:
                out[r[0]] = r
    return out


class Tele(threading.Thread):
    """Watches every meter's telemetry (gateway credentials) for the worst stall figures."""

    def __init__(self, host, port, user, password):
        super().__init__(daemon=True)
        self.worst = {}
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="tele-watch")
        c.username_pw_set(user, password)
        c.on_connect = lambda c, u, f, r, p: c.subscribe("pm/+/tele", 0)
        c.on_message = self._msg
        c.reconnect_delay_set(0.1, 1)
        c.connect_async(host, port)
        c.loop_start()

    def _msg(self, c, u, m):
        try:
            d = json.loads(m.payload)
        except ValueError:
            return
        w = self.worst.setdefault(m.topic.split("/")[1], {"stall_ms": 0, "lag_ms": 0, "n": 0})
        w["n"] += 1
        for k in ("stall_ms", "lag_ms"):
            w[k] = max(w[k], d.get(k, 0))

    def stop(self):
        self.c.loop_stop()


def topup(store, ing, meter_id, value=900):
    key, start = store.secret(meter_id)
    token, count = opaygo.Codec(key, start).vend(value, 0)
    assert ing.send_command(meter_id, "token", id="tx-e2e", code=token)


def online_and_topped_up(fleet, store, ing):
    """Wait for the gateway and every meter of a started fleet to be online, then top each
    meter up over MQTT."""
    assert ing.wait_connected()
    assert wait_until(lambda: all(store.meter(m.id)["online"] for m in fleet), 20), \
        [m.console()[-600:] for m in fleet]
    for m in fleet:
        topup(store, ing, m.id)


def check_exactly_once(store, fleet, upto):
    """Every journaled record up to upto[meter] (what was written before the drain check;
    meters write on until stopped) is at the gateway once and identical; every record at
    the gateway matches the journal; no holes, no gaps."""
    rows = {}
    for m in fleet:
        mid = store.query("SELECT mid FROM meters WHERE id=?", (m.id,))[0]["mid"]
        db = {r[0]: r for r in store.reader().execute(
            "SELECT %s FROM raw WHERE mid=? ORDER BY seq" % ", ".join(record.FIELDS), (mid,))}
        jr = journal_records(m.root)
        must = {s for s in jr if s <= upto[m.id]}
        hc = store.high_contiguous(m.id)
        n = len(db)
        assert n == hc == max(db), "%s: %d rows, high contiguous %d" % (m.id, n, hc)
        assert store.missing(m.id) == []
        assert not any(r[9] & record.F_GAP for r in db.values()), "unexpected gap marker"
        assert must <= set(db), "%s: journaled but never arrived: %s" % (
            m.id, sorted(must - set(db))[:10])
        differ = [s for s, r in db.items() if s in jr and tuple(r) != tuple(jr[s])]
        assert not differ, "%s: records differ from the journal: %s" % (m.id, differ[:10])
        rows[m.id] = (n, len(jr))
    return rows


def page_status(m):
    """What the meter's own page says of itself: served, its requests and heap high-water."""
    url = "http://127.0.0.1:%d/api/status" % m.web_port
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            st = json.loads(r.read())
    except OSError as e:
        return "not served: %r" % e
    return "served (heap free %d B)" % st["heap_free"]


@pytest.mark.slow
def test_day_of_broker_restarts_and_network_loss(tmp_path):
    speed = 1440                       # one simulated day per real minute
    day_real = DAY / speed
    rnd = random.Random(20260101)
    port = free_port()
    store = Store(tmp_path / "gw.db")
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=3, speed=speed,
                  source=["analog", "pzem", "analog"], store=store, epoch=T0,
                  config={"mqtt": {"tele_s": 600}}, web_port=free_port())
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    ing = Ingest(store, "127.0.0.1", broker.gw_port, *fleet.gateway, clock=fleet.meter_time,
                 client_id="gw-e2e").start()
    watch = Tele("127.0.0.1", broker.gw_port, *fleet.gateway)
    fleet.start()
    try:
        online_and_topped_up(fleet, store, ing)
        # the day's schedule, in real seconds from now
        kills = sorted(rnd.uniform(1, day_real - 2) for _ in range(22))
        plan = [(t, "broker", None) for t in kills]
        plan += [(rnd.uniform(1, day_real - 2), "freeze", None) for _ in range(4)]
        plan += [(0.20 * day_real, "down", 0), (0.20 * day_real + 3 * 3600 / speed, "up", 0),
                 (0.45 * day_real, "down", 1), (0.45 * day_real + 6 * 3600 / speed, "up", 1),
                 (0.60 * day_real, "power", 2)]
        plan.sort(key=lambda p: p[0])
        start = time.monotonic()
        restarts = 0
        for at, what, i in plan:
            time.sleep(max(0.0, start + at - time.monotonic()))
            if what == "broker":
                broker.restart(kill=rnd.random() < 0.8, down_s=rnd.uniform(0.1, 1.2))
                restarts += 1
            elif what == "freeze":
                broker.freeze(rnd.uniform(0.5, 1.5))
            elif what == "down":
                fleet.net_down(i)
            elif what == "up":
                fleet.net_up(i)
            else:
                fleet.kill(i)
                time.sleep(0.5)
                fleet[i].start()
        time.sleep(max(0.0, start + day_real - time.monotonic()))
        pages = [page_status(m) for m in fleet]     # the page served all day too
        # the day is over: every meter's journal so far must reach the gateway
        marks = {m.id: max(journal_records(m.root)) for m in fleet}
        drained = wait_until(lambda: all(store.high_contiguous(k) >= v for k, v in marks.items()),
                             60)
        t_drain = time.monotonic() - start - day_real
    finally:
        fleet.stop()
        watch.stop()
    wait_until(lambda: not any(store.meter(m.id)["online"] for m in fleet), 10)   # last wills
    ing.stop()
    stats = dict(ing.stats)
    consoles = {m.id: m.console()[-1500:] for m in fleet}
    assert drained, ({k: (v, store.high_contiguous(k)) for k, v in marks.items()}, consoles)
    rows = check_exactly_once(store, fleet, marks)
    worst_stall = max(w["stall_ms"] for w in watch.worst.values())
    worst_lag = max(w["lag_ms"] for w in watch.worst.values())
    print("\nsoak: %d meters, %.0f meter-hours each, broker killed/restarted %d times and hung "
          "(SIGSTOP) 4 times, network loss 3 h and 6 h, one power loss"
          % (len(fleet), DAY / 3600, restarts))
    for mid, (n, nj) in rows.items():
        last = store.query("SELECT wh, credit, flags FROM readings WHERE meter=? ORDER BY seq"
                           " DESC LIMIT 1", (mid,))[0]
        print("  %s: %d records at the gateway (exactly once, no gaps), %d still in its journal;"
              " last record wh=%d credit=%d flags=0x%x" % (mid, n, nj, last["wh"],
                                                           last["credit"], last["flags"]))
    print("  ingest: received %(received)d messages, stored %(stored)d records, %(duplicates)d "
          "duplicates dropped, %(acks)d acks, %(replays)d replay requests, %(dead_letters)d "
          "dead letters" % stats)
    print("  web pages: %s" % "; ".join("%s %s" % (m.id, p) for m, p in zip(fleet, pages)))
    print("  worst stall of one MQTT call: %d ms; worst event-loop lag seen by the probe: %d ms"
          " (real time); backlog drained %.1f s after the day" % (worst_stall, worst_lag,
                                                                    t_drain))
    assert restarts >= 20
    assert all(p.startswith("served") for p in pages), pages
    assert stats["dead_letters"] == 0
    assert all(n >= 1300 for n, _ in rows.values())     # ~1440 one-minute records a day
    store.close()
    broker.stop()


@pytest.mark.slow
def test_week_offline_then_catch_up(tmp_path):
    minutes = 7 * 24 * 60
    port = free_port()
    store = Store(tmp_path / "gw.db")
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=1, speed=60, store=store,
                  epoch=T0 + minutes * 60)
    m = fleet[0]
    # the meter was offline for 7 days: its journal holds a week of records, written by the
    # firmware's own journal code (under the unix port) in a fraction of the time
    (fill,) = upy.run_json("journal_check.py", "fill", minutes, T0, METER_ROOT=m.root,
                           METER_EPOCH=T0 + minutes * 60)
    assert fill["last"] == minutes and fill["gaps"] == 0
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    ing = Ingest(store, "127.0.0.1", broker.gw_port, *fleet.gateway, clock=fleet.meter_time,
                 client_id="gw-week").start()
    assert ing.wait_connected()
    t0 = time.monotonic()
    fleet.start()                           # back online
    try:
        ok = wait_until(lambda: store.high_contiguous(m.id) >= minutes, 120, 0.02)
        dt = time.monotonic() - t0
    finally:
        fleet.stop()
    wait_until(lambda: not store.meter(m.id)["online"], 10)   # its last will, after the rest
    ing.stop()
    assert ok, (store.high_contiguous(m.id), m.console()[-2000:])
    rows = check_exactly_once(store, fleet, {m.id: minutes})
    print("\ncatch-up: %d records (7 days of 1-minute intervals) arrived in %.2f s from meter "
          "start: %.0f records/s (batches of 50, firmware boot and connect included); "
          "%d duplicates" % (minutes, dt, minutes / dt, ing.stats["duplicates"]))
    assert rows[m.id][0] >= minutes
    store.close()
    broker.stop()

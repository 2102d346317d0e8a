"""Gateway ingest throughput, end to end: loadgen process -> real mosquitto -> `python -m
gateway` process(es) -> committed SQLite rows (with aggregates, acks and the API running).

Prints records/s for single-record messages, backlog batches and two shared-subscription
workers (and the scaling ratio), each against the same-run baseline: a bare paho subscriber
that only counts messages (the MQTT ceiling of this machine). Targets (issue 6): >= 10,000
single-record messages/s and >= 50,000 backlog records/s for one gateway process.
"""
import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import paho.mqtt.client as mqtt

from broker import Broker, free_port
from gateway.store import Store

REPO = Path(__file__).resolve().parents[2]
LOADGEN = str(Path(__file__).with_name("loadgen.py"))
METERS = 1000
USERS = {"gateway": "gw-pw", "loadgen": "lg-pw"}
# The load generator outruns the gateway for a while: a production-sized session queue keeps
# the broker from dropping (tests/broker.py's 100,000 is sized for tests), and autosave at
# mosquitto's default interval instead of every second (which rewrites the whole queue).
BROKER_CONF = "max_queued_messages 2000000\nautosave_interval 1800\n"


def make_db(path, meters=METERS):
    s = Store(path)
    for i in range(meters):
        s.register_meter("m-%05d" % i)
    s.close()


def gateway(db, b, cid, share="", shared=False):
    port = free_port()
    argv = [sys.executable, "-m", "gateway", "--db", str(db), "--broker", "%s:%d" % (b.host, b.port),
            "--user", "gateway", "--password", USERS["gateway"], "--client-id", cid,
            "--api-port", str(port), "--no-ha-discovery"]
    if share:
        argv += ["--share", share]
    if shared:
        argv.append("--shared-db")
    p = subprocess.Popen(argv, cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    end = time.monotonic() + 30
    while time.monotonic() < end:
        try:
            if health(port)["broker"]["connected"]:
                time.sleep(0.5)   # subscriptions in place
                return p, port
        except OSError:
            pass
        if p.poll() is not None:
            raise RuntimeError(p.stderr.read().decode()[-3000:])
        time.sleep(0.1)
    p.kill()
    raise RuntimeError("gateway did not connect")


def health(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/health" % port, timeout=5) as r:
        return json.loads(r.read())


def stop(p):
    p.send_signal(signal.SIGTERM)
    p.wait(60)


def loadgen(b, mode, *args, cid="loadgen"):
    return subprocess.Popen([sys.executable, LOADGEN, mode, b.host, str(b.port), "loadgen",
                             USERS["loadgen"], "--client-id", cid] + [str(a) for a in args],
                            stdout=subprocess.PIPE, text=True)


def publish(b, records, batch, publishers=1):
    per = METERS // publishers
    return [loadgen(b, "pub", "--meters", per, "--first-meter", k * per, "--records", records,
                    "--batch", batch, cid="loadgen-%d" % k) for k in range(publishers)]


def measure(ports, total, timeout=600):
    """records/s between 10 % and 100 % of `total` stored (sum over the workers)."""
    t10 = n10 = None
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        n = sum(health(p)["store"]["records"] for p in ports)
        now = time.monotonic()
        if t10 is None and n >= total // 10:
            t10, n10 = now, n
        if n >= total:
            return (n - n10) / (now - t10)
        time.sleep(0.2)
    raise AssertionError("only %d of %d records stored" % (n, total))


def retained_acks(b, records, timeout=60):
    """How many meters' retained cmd/ack reach `records` (the last seq) within `timeout`, and
    the seconds it took: acks are state, so each meter's final ack must arrive."""
    acks, done = {}, threading.Event()

    def on_message(c, u, m):
        acks[m.topic.split("/")[1]] = json.loads(m.payload)["seq"]
        if len(acks) == METERS and all(v == records for v in acks.values()):
            done.set()
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="ack-check")
    c.username_pw_set("loadgen", USERS["loadgen"])
    c.on_message = on_message
    c.on_connect = lambda c, u, f, r, p: c.subscribe("pm/+/cmd/ack", 1)
    t = time.monotonic()
    c.connect(b.host, b.port)
    c.loop_start()
    try:
        done.wait(timeout)
    finally:
        c.disconnect()
        c.loop_stop()
    return sum(v == records for v in acks.values()), time.monotonic() - t


def check_db(db, total, records):
    db = sqlite3.connect(db)
    n = db.execute("SELECT count(*) FROM raw").fetchone()[0]
    wh = db.execute("SELECT sum(wh) FROM agg30").fetchone()[0]
    db.close()
    assert n == total, (n, total)
    assert wh == METERS * (records - 1), (wh, METERS * (records - 1))   # 1 Wh per interval


def run(tmp, name, records, batch, workers=1, share="", publishers=1):
    """records/s stored, publisher msg/s, the workers' ingest stats, and (meters whose
    retained ack is the last seq, seconds until they all were)."""
    b = Broker(tmp / ("mq-" + name), users=USERS, extra_conf=BROKER_CONF).start()
    db = tmp / (name + ".db")
    make_db(db)
    gws, pubs = [], []
    try:
        for k in range(workers):
            gws.append(gateway(db, b, "gw-%s-%d" % (name, k), share, shared=bool(share)))
        total = METERS * records
        pubs = publish(b, records, batch, publishers)
        rate = measure([port for _, port in gws], total)
        outs = [json.loads(p.communicate(timeout=120)[0].splitlines()[-1]) for p in pubs]
        acked = retained_acks(b, records)
        stats = [health(port)["broker"]["stats"] for _, port in gws]
    finally:
        for p in pubs:
            if p.poll() is None:
                p.kill()
        for p, _ in gws:
            stop(p)
        b.stop()
    check_db(db, total, records)
    for suffix in ("", "-wal", "-shm", "-secrets"):
        Path(str(db) + suffix).unlink(missing_ok=True)
    return rate, sum(o["msg_per_s"] for o in outs), stats, acked


def baseline(tmp, records):
    b = Broker(tmp / "mq-base", users=USERS, extra_conf=BROKER_CONF).start()
    n = METERS * records
    sub = loadgen(b, "sub", "--count", n, cid="baseline-sub")
    try:
        assert json.loads(sub.stdout.readline())["ready"]
        time.sleep(0.5)
        for p in publish(b, records, 1):
            p.communicate(timeout=300)
        r = json.loads(sub.communicate(timeout=300)[0].splitlines()[-1])
    finally:
        if sub.poll() is None:
            sub.kill()
        b.stop()
    return r["msg_per_s"]


def ack_line(st, acked):
    return ("    ingest: %d batches, %d acks published (max %d in flight), max queue %d, max lag"
            " %.2f s; retained ack = last seq for %d of %d meters (%.1f s after the last record)"
            % (st["batches"], st["acks"], st.get("ack_inflight_max", -1), st["queue_max"],
               st["lag_max_s"], acked[0], METERS, acked[1]))


def test_ingest_throughput(tmp_path):
    print("\n%d meters, QoS 1, records with CRC in prepay.protocol rec batches, %d cores"
          % (METERS, os.cpu_count()))
    base = baseline(tmp_path, 100)
    print("baseline: bare paho subscriber, no processing        %8.0f msg/s" % base)
    single, pub, st, acked = run(tmp_path, "single", 150, 1)
    print("single-record messages, 1 gateway -> SQLite rows     %8.0f records/s  (x%.2f baseline;"
          " publisher %.0f msg/s)" % (single, single / base, pub))
    print(ack_line(st[0], acked))
    fails = [("single", acked)]
    backlog, pub, st, acked = run(tmp_path, "backlog", 500, 50)
    print("backlog batches of 50, 1 gateway -> SQLite rows      %8.0f records/s  (x%.2f baseline"
          " msg/s; publisher %.0f msg/s)" % (backlog, backlog / base, pub))
    print(ack_line(st[0], acked))
    fails.append(("backlog", acked))
    one, _, _, acked = run(tmp_path, "share1", 150, 1, workers=1, share="gw")
    fails.append(("share1", acked))
    two, _, st, acked = run(tmp_path, "share2", 150, 1, workers=2, share="gw")
    fails.append(("share2", acked))
    print("$share/gw, 1 worker, shared database, single-record  %8.0f records/s" % one)
    print("$share/gw, 2 workers, shared database, single-record %8.0f records/s  (scaling x%.2f;"
          " split %d / %d messages)" % (two, two / one, st[0]["received"], st[1]["received"]))
    print("    retained ack = last seq: %s" % ", ".join("%s %d of %d meters" % (name, a[0], METERS)
                                                          for name, a in fails[2:]))
    fails = [(name, a) for name, a in fails if a[0] != METERS]
    assert not fails, "meters whose final ack never came: %s" % fails

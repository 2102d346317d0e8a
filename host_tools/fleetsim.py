"""Protocol-level fleet simulator: many simulated meters against a gateway, at fleet scale.

    python -m host_tools.fleetsim --broker 127.0.0.1:1883 --user gateway --meters 100000 \
        --seconds 120 --speed 2 --outage 0.05 --backlog-min 240 [--db gateway.db]
    (the password from $FLEETSIM_MQTT_PASSWORD)

host_tools/fleet.py runs the real firmware, one process a meter: right for a handful of meters,
not for 100,000. Here a meter is a few integers, and what it sends is what the firmware sends
(device/sync/mqtt.py, docs/protocol.md): prepay.record records with their CRC in rec batches
on <prefix>/<meter>/rec, QoS 1, after its retained "Online" on <prefix>/<meter>/LWT when it
connects; one record a minute, published when made; a meter with a
backlog sends it oldest first in batches of `batch` records (mqtt.batch, 50) flagged
R_REPLAY while more follow, at most `window` batches beyond its last ack (the firmware's
_INFLIGHT, 20), and moves on when the gateway's cmd/ack for it arrives.

- **Time**: the fleet's clock runs `speed` simulated seconds per real second. Meter i makes a
  record every 60 simulated seconds at its own second of the minute (spread evenly, as
  meters that started at different times do), so the fleet offers meters/60 x speed
  records/s.
- **Offline backlogs**: a fraction `outage` of the meters was offline before the run with
  `backlog_min` minutes of records in its journal; they come back at random times over the
  first third of the run (the reconnection storm after an area outage) and replay while
  the others keep sending live.
- **Measured**: records acknowledged per second (the gateway's sustained ingest, as the
  meters see it), the ingest lag of live records (publish to its cmd/ack: the gateway has
  committed it), the time until every backlog is acknowledged, and with `db` the database
  bytes per meter-day (growth over the run / records stored x 1,440), in the tables that
  grow with records and in all.

Many meters share one MQTT connection (the gateway's listener, as tests/bench/loadgen.py):
a broker with 100,000 TLS sessions is the broker's benchmark, not the gateway's. Everything a
meter publishes and every ack it gets is as in production.
"""
import argparse
import json
import os
import random
import select
import socket
import sqlite3
import statistics
import struct
import sys
import time

from host_tools import rawmqtt
from prepay import protocol as P
from prepay import record

RECORDS_PER_DAY = 1440      # one record a minute
BATCH = 50                  # mqtt.batch default (device/settings.py)
WINDOW = 20                 # batches beyond the ack (device/sync/mqtt.py _INFLIGHT)
PUB_INFLIGHT = 2000         # QoS 1 publishes the connection leaves unacknowledged


def meter_id(i):
    return "f-%06d" % i


class Fleet:
    """The meters' state: records made, sent and acknowledged; who is online; the lag of
    each meter's newest live record until its ack."""

    def __init__(self, meters, outage=0.05, backlog_min=240, batch=BATCH, window=WINDOW,
                 seed=1, start=None, prefix="pm"):
        rnd = random.Random(seed)
        self.n = meters
        self.batch, self.window, self.prefix = batch, window, prefix
        self.start = int(time.time()) // 60 * 60 if start is None else start
        self.ids = [meter_id(i) for i in range(meters)]
        self.index = {m: i for i, m in enumerate(self.ids)}
        self.topics = [P.topic(prefix, m, P.REC) for m in self.ids]
        self.phase = [i * 60 // meters for i in range(meters)]   # its second of the minute
        self.wh_min = [rnd.randint(1, 40) for _ in range(meters)]  # 60 W .. 2.4 kW
        down = set(rnd.sample(range(meters), int(meters * outage)))
        self.made = [backlog_min if i in down else 0 for i in range(meters)]
        self.backlog = sum(self.made)
        # the seq-1 record of meter i ends at base[i] + 60 (backlog records before the start)
        self.base = [self.start + self.phase[i] - 60 * (self.made[i] + 1) for i in range(meters)]
        self.sent = [0] * meters
        self.acked = [0] * meters
        self.back_at = {i: rnd.random() / 3 for i in down}   # fraction of the run
        self.by_phase = [[] for _ in range(60)]
        for i in range(meters):
            self.by_phase[self.phase[i]].append(i)
        self.live_seq = [0] * meters        # newest live record sent, until acked
        self.live_t = [0.0] * meters
        self.lags = []                      # (sent, seconds to its ack) per acked live record
        self.buf = bytearray(P.REC_HDR + batch * record.SIZE)

    def payload(self, i, first, n, more):
        """A rec batch of meter i's records first..first+n-1, as the firmware builds it."""
        buf = self.buf
        struct.pack_into(P.REC_FMT, buf, 0, P.VER, P.R_REPLAY if more else 0, n)
        w, base = self.wh_min[i], self.base[i]
        for k in range(n):
            s = first + k
            record.pack_into(buf, P.REC_HDR + k * record.SIZE, s, base + 60 * s, w * s,
                             w * 600, 2300, w * 260, 990, 5000, 100000, 0)
        return bytes(buf[:P.REC_HDR + n * record.SIZE])


class Link:
    """One raw MQTT connection: QoS 1 publishes under a window of unacknowledged ones, and a
    QoS 1 subscription to every meter's cmd/ack (each PUBACKed, so the broker drops none)."""

    def __init__(self, host, port, user, password, client_id, prefix):
        self.sock = socket.create_connection((host, port))
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(rawmqtt.connect(client_id, user, password))
        rawmqtt.check_connack(self.sock.recv(4))
        self.sock.sendall(rawmqtt.subscribe(1, "%s/+/cmd/%s" % (prefix, P.ACK), qos=1))
        self.reader = rawmqtt.Reader()
        self.out = []
        self.mid = 0
        self.unacked = 0
        self.published = 0

    def publish(self, topic, payload, retain=False):
        self.mid = self.mid % 65535 + 1
        self.out.append(rawmqtt.publish_qos1(topic, payload, self.mid, retain))
        self.unacked += 1
        self.published += 1

    def flush(self):
        if self.out:
            self.sock.sendall(b"".join(self.out))
            self.out = []

    def poll(self, timeout):
        """Incoming acks as (topic, payload); counts PUBACKs."""
        got = []
        if not select.select([self.sock], [], [], timeout)[0]:
            return got
        data = self.sock.recv(1 << 18)
        if not data:
            raise ConnectionError("broker closed the connection")
        self.reader.feed(data)
        for kind, flags, body in self.reader.packets():
            if kind == rawmqtt.PUBACK:
                self.unacked -= 1
            elif kind == rawmqtt.PUBLISH:
                topic, payload, mid = rawmqtt.parse_publish(flags, body)
                if mid is not None:
                    self.out.append(rawmqtt.puback(mid))
                got.append((topic, payload))
        return got

    def close(self):
        try:
            self.sock.sendall(rawmqtt.DISCONNECT)
        finally:
            self.sock.close()


# The tables that grow with records (the rest grows with meters, alerts and commands).
RECORD_TABLES = ("raw", "agg30", "grp30", "gaps", "anomalies")


def db_bytes(path):
    """{table or index: bytes of its pages} of a SQLite database, WAL frames included
    (SQLite's dbstat table, read-only while the gateway writes)."""
    db = sqlite3.connect("file:%s?mode=ro" % path, uri=True)
    try:
        return dict(db.execute("SELECT name, sum(pgsize) FROM dbstat GROUP BY name"))
    finally:
        db.close()


def growth(before, after):
    """(bytes grown in all, bytes grown in RECORD_TABLES) between two db_bytes()."""
    grown = {k: v - before.get(k, 0) for k, v in after.items()}
    return sum(grown.values()), sum(v for k, v in grown.items() if k in RECORD_TABLES)


def run(fleet, link, seconds, speed, drain_s=120, tick_s=0.02):
    """Run the fleet for `seconds` of real time, then let every meter's records be acked (at
    most `drain_s` more). Returns the figures (a dict)."""
    f = fleet
    pending, blocked = set(), set()      # online meters with records to send; held by window
    back = sorted(f.back_at.items(), key=lambda kv: kv[1])
    offline = set(f.back_at)
    births = [i for i in range(f.n) if i not in offline]   # "Online" as each (re)connects
    t0 = time.monotonic()
    sec = 0                              # simulated seconds since the start, made so far
    acked_total = first_ack = last_ack = 0
    caught_up_at = None
    check_at = t0
    acks_seen = 0

    def ack(topic, payload):
        nonlocal acked_total, last_ack, first_ack, acks_seen
        i = f.index.get(topic.split("/")[1])
        if i is None:
            return
        seq = json.loads(payload)["seq"]
        now = time.monotonic()
        acks_seen += 1
        if seq > f.acked[i]:
            acked_total += seq - f.acked[i]
            f.acked[i] = seq
            first_ack = first_ack or now
            last_ack = now
        if f.live_seq[i] and seq >= f.live_seq[i]:
            f.lags.append((f.live_t[i], now - f.live_t[i]))
            f.live_seq[i] = 0
        if i in blocked:
            blocked.discard(i)
            pending.add(i)

    end = t0 + seconds
    while True:
        now = time.monotonic()
        live = now < end
        if live:   # make the records due by now
            due = int((now - t0) * speed)
            while sec <= due:
                for i in f.by_phase[sec % 60]:
                    f.made[i] += 1
                    if i not in offline:
                        pending.add(i)
                sec += 1
            while back and now - t0 >= back[0][1] * seconds:
                i = back.pop(0)[0]
                offline.discard(i)
                births.append(i)
                pending.add(i)
        while births and link.unacked < PUB_INFLIGHT:
            i = births.pop()
            link.publish(P.topic(f.prefix, f.ids[i], P.LWT), P.ONLINE, retain=True)
        for i in list(pending):
            if link.unacked >= PUB_INFLIGHT:
                break
            s, m = f.sent[i], f.made[i]
            if s - f.acked[i] >= f.window * f.batch:
                pending.discard(i)
                blocked.add(i)
                continue
            n = min(f.batch, m - s)
            link.publish(f.topics[i], f.payload(i, s + 1, n, s + n < m))
            f.sent[i] = s + n
            if s + n == m:
                pending.discard(i)
                if n == 1 and f.acked[i] == s:     # a live record, nothing else unacked
                    f.live_seq[i], f.live_t[i] = s + 1, now
        link.flush()
        wait = not (pending or births) or link.unacked >= PUB_INFLIGHT
        for topic, payload in link.poll(tick_s if wait else 0):
            ack(topic, payload)
        link.flush()                          # PUBACKs of the acks
        if caught_up_at is None and not back and now >= check_at:
            check_at = now + 0.5              # every backlog acked (bar a live record in flight)
            if all(f.acked[i] >= f.made[i] - 1 for i in f.back_at):
                caught_up_at = now
        if now > end + drain_s:
            break
        if not live and not pending and not offline and not births and now >= check_at:
            check_at = now + 0.5
            if all(a == m for a, m in zip(f.acked, f.made)):
                break
    made = sum(f.made)
    span = max(last_ack - first_ack, 1e-9)
    # live records sent after every backlog was acked: the lag without a reconnection storm
    calm = [lag for sent, lag in f.lags if caught_up_at and sent >= caught_up_at]
    return {
        "meters": f.n, "speed": speed, "seconds": seconds,
        "simulated_minutes": round(seconds * speed / 60, 1),
        "records": made, "backlog_records": f.backlog, "messages": link.published,
        "offered_live_per_s": round(f.n / 60 * speed),
        "acked": acked_total, "unacked": made - acked_total, "acks_received": acks_seen,
        "acked_per_s": round(acked_total / span),
        "lag_samples": len(f.lags), "calm_lag_samples": len(calm),
        "backlog_caught_up_s": round(caught_up_at - t0, 1) if caught_up_at else None,
        # what the gateway's aggregates must add up to: each meter's register moved
        # wh_min per record after its first
        "energy_wh": sum(w * (m - 1) for w, m in zip(f.wh_min, f.made) if m),
        "wall_s": round(time.monotonic() - t0, 1),
        **percentiles("lag", [lag for _, lag in f.lags]), **percentiles("calm_lag", calm),
    }


def percentiles(name, values):
    """{name_p50_s, name_p95_s, name_p99_s, name_max_s} of a list of seconds (None when it
    is empty)."""
    v = sorted(values)
    if not v:
        return {name + "_p50_s": None, name + "_p95_s": None, name + "_p99_s": None,
                name + "_max_s": None}
    return {name + "_p50_s": round(statistics.median(v), 3),
            name + "_p95_s": round(v[max(0, int(len(v) * 0.95) - 1)], 3),
            name + "_p99_s": round(v[max(0, int(len(v) * 0.99) - 1)], 3),
            name + "_max_s": round(v[-1], 3)}


def per_meter_day(bytes_grown, records):
    """Database bytes per meter-day from the growth over a run that stored `records`."""
    return bytes_grown / max(records, 1) * RECORDS_PER_DAY


def report(r):
    """Human lines for a run's figures."""
    out = ["%d meters, %.1f simulated min at x%g (live offer %d records/s), %d records"
           " (%d from offline backlogs) in %d messages"
           % (r["meters"], r["simulated_minutes"], r["speed"], r["offered_live_per_s"],
              r["records"], r["backlog_records"], r["messages"]),
           "sustained: %d records/s acknowledged; %d of %d records acked"
           % (r["acked_per_s"], r["acked"], r["records"]),
           "ingest and ack lag (live record published -> its ack back at the meter): p50 %s s,"
           " p95 %s s, p99 %s s, max %s s over %d records"
           % (r["lag_p50_s"], r["lag_p95_s"], r["lag_p99_s"], r["lag_max_s"], r["lag_samples"]),
           "  after the backlogs were acked: p50 %s s, p95 %s s, p99 %s s, max %s s over %d"
           " records" % (r["calm_lag_p50_s"], r["calm_lag_p95_s"], r["calm_lag_p99_s"],
                         r["calm_lag_max_s"], r["calm_lag_samples"]),
           "offline backlogs acknowledged %s s after the start" % r["backlog_caught_up_s"]]
    if "bytes_per_meter_day" in r:
        out.append("database: %.0f bytes per meter-day in the record tables (%s), %.0f in"
                   " all (%.1f MB grown for %d records, alerts and meter status included)"
                   % (r["record_bytes_per_meter_day"], " ".join(RECORD_TABLES),
                      r["bytes_per_meter_day"], r["db_grown"] / 1e6, r["acked"]))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--broker", default="127.0.0.1:1883", help="HOST:PORT (the gateway listener)")
    ap.add_argument("--user", default="gateway")
    ap.add_argument("--client-id", default="fleetsim")
    ap.add_argument("--prefix", default="pm")
    ap.add_argument("--meters", type=int, default=100000)
    ap.add_argument("--seconds", type=float, default=120, help="real seconds of live traffic")
    ap.add_argument("--speed", type=float, default=1.0, help="simulated s per real s")
    ap.add_argument("--outage", type=float, default=0.05, help="fraction back from an outage")
    ap.add_argument("--backlog-min", type=int, default=240, help="their backlog, minutes")
    ap.add_argument("--batch", type=int, default=BATCH)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--db", help="the gateway's SQLite file: report bytes per meter-day")
    ap.add_argument("--register", action="store_true",
                    help="register the simulated meters in --db first (f-000000 ...)")
    ap.add_argument("--json", action="store_true", help="print the figures as one JSON line")
    a = ap.parse_args(argv)
    for name, v, lo in (("--meters", a.meters, 1), ("--seconds", a.seconds, 1),
                        ("--speed", a.speed, 0.01), ("--batch", a.batch, 1)):
        if v < lo:
            ap.error("%s must be at least %s" % (name, lo))
    if not 0 <= a.outage <= 1 or a.backlog_min < 0 or a.batch > P.REC_MAX:
        ap.error("--outage is a fraction 0..1, --backlog-min >= 0, --batch <= %d" % P.REC_MAX)
    if a.register and not a.db:
        ap.error("--register needs --db")
    password = os.environ.get("FLEETSIM_MQTT_PASSWORD")
    if password is None:
        ap.error("the MQTT password comes from $FLEETSIM_MQTT_PASSWORD")
    host, _, port = a.broker.rpartition(":")
    fleet = Fleet(a.meters, a.outage, a.backlog_min, a.batch, seed=a.seed, prefix=a.prefix)
    if a.register:
        from gateway.store import Store
        s = Store(a.db)
        s.register_new_meters(fleet.ids)
        s.close()
    before = db_bytes(a.db) if a.db else {}
    link = Link(host, int(port), a.user, password, a.client_id, a.prefix)
    try:
        r = run(fleet, link, a.seconds, a.speed)
    finally:
        link.close()
    if a.db:
        r["db_grown"], r["db_grown_records"] = growth(before, db_bytes(a.db))
        r["bytes_per_meter_day"] = round(per_meter_day(r["db_grown"], r["acked"]))
        r["record_bytes_per_meter_day"] = round(per_meter_day(r["db_grown_records"], r["acked"]))
    print(json.dumps(r) if a.json else "\n".join(report(r)), flush=True)
    return 0 if r["unacked"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

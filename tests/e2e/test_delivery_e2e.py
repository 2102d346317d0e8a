"""The money path end to end (issue 11): `python -m gateway` with its HTTP API, a real
mosquitto (provisioned passwords and ACL) and meters running the real firmware frozen into
the unix port (host_tools/fleet.py). No paid top-up is lost and none is credited twice:

- 50 concurrent top-ups to one meter with the broker killed and restarted in the middle:
  every transaction ends accepted (or visibly rejected with the meter's reason), none stays
  queued or sent, the meter accepted each token count exactly once (its own `token`
  events) and its credit is the initial credit plus the sum of the amounts;
- then 10 concurrent top-ups, all credited;
- 4 identical top-ups with one Idempotency-Key: one transaction, one token, one credit;
  concurrent duplicates of one key: one transaction;
- top-ups sent while another client has filled the meter's command queue: the meter
  answers `busy`, the gateway sends those again, each is credited once;
- a meter offline past the expiry: the command and its transaction end `expired` with a
  critical alert, and stay so when the meter comes back reporting the count unused.

The meters' tariff is the default {} (no energy charge), so credit only moves by top-ups."""
import json
import signal
import threading
import time

import paho.mqtt.client as mqtt

from broker import Broker, free_port
from gateway_process import GatewayProcess
from host_tools.fleet import Fleet
from test_gateway_fleet import KEY, api
from waits import concurrently, wait_until

T0 = 1767225600
SPEED = 60                       # a meter minute per real second: tele every 0.5 s real
OPEN = ("queued", "sent")


class Setup:
    def __init__(self, tmp_path, n, *gw_args, db=None):
        self.port = free_port()
        self.db = db or tmp_path / "gw.db"     # a file, or a PostgreSQL URL
        self.fleet = Fleet(tmp_path / "fleet", "127.0.0.1", self.port, n=n, speed=SPEED,
                           db=self.db, epoch=T0, config={"mqtt": {"tele_s": 30}})
        self.broker = Broker(tmp_path / "mq", passwd=self.fleet.passwd, acl=self.fleet.acl,
                             port=self.port).start()
        user, password = self.fleet.gateway
        self.gw = GatewayProcess(
            tmp_path / "gw", self.broker, password, keys=[KEY], user=user, db=self.db,
            extra=["--no-ha-discovery", "--retention-days", "3650",
                   "--sim-clock", "%d,%d" % (T0, SPEED)] + list(gw_args)).start()
        self.base = self.gw.url

    def start(self, *which):
        self.fleet.fw = self.fleet.fw or __import__("host_tools.frozen").frozen.firmware()
        self.fleet.t0 = time.time()
        for i in which:
            self.fleet[i].start()
        assert wait_until(lambda: all(self.meter(self.fleet[i].id)["online"] for i in which),
                          60), self.consoles()

    def meter(self, meter_id):
        return api(self.base, "/api/meters/" + meter_id)[1]

    def consoles(self):
        return [x.console()[-1500:] for x in self.fleet] + [self.gw.log()[-3000:]]

    def topup(self, meter_id, amount, key=None):
        return api(self.base, "/api/meters/%s/topup" % meter_id, {"amount": amount},
                   headers={"Idempotency-Key": key} if key else None)

    def txs(self, meter_id):
        return api(self.base, "/api/meters/%s/transactions?limit=1000" % meter_id)[1][
            "transactions"]

    def settled(self, meter_id, n):
        t = self.txs(meter_id)
        return t if len(t) == n and all(x["status"] not in OPEN for x in t) else None

    def tele(self, meter_id):
        """The meter's latest tele, as the gateway stored it."""
        return api(self.base, "/api/meters/%s/realtime" % meter_id)[1]["telemetry"]

    def credit(self, meter_id):
        """The credit the meter itself reports (its latest tele)."""
        tele = self.tele(meter_id)
        return tele and tele["credit"]

    def config(self, meter_id, settings):
        return api(self.base, "/api/meters/%s/config" % meter_id, {"set": settings})

    def commands(self, meter_id):
        return api(self.base, "/api/meters/%s/commands" % meter_id)[1]["commands"]

    def token_events(self, meter_id):
        ev = api(self.base, "/api/meters/%s/events?kind=token&limit=1000" % meter_id)[1]["events"]
        return [e.get("data", e) for e in ev]

    def stop(self):
        self.fleet.stop()
        self.gw.stop()
        self.broker.stop()


def accepted_counts(s, meter_id):
    """Token counts the meter says it accepted, from its own `token` events."""
    out = []
    for e in s.token_events(meter_id):
        d = e if "result" in e else e.get("data", {})
        if d.get("result") == "accepted":
            out.append(d["count"])
    return out


def once(s, meter_id, txs):
    """Besides the credit (the proof: initial + the sum of the amounts), the meter's own
    `token` events: no count accepted twice, none it was not vended. They are not a full
    list: a burst overflows the meter's unsent-event bound (counted as `ev_drops`) and a
    broker kill may lose some in flight. Its `tok` memory shows every vended count used."""
    vended = {t["token_count"] for t in txs}
    time.sleep(2)                  # events still on their way in
    counts = accepted_counts(s, meter_id)
    assert len(counts) == len(set(counts)) and set(counts) <= vended, counts
    tele = api(s.base, "/api/meters/%s/realtime" % meter_id)[1]["telemetry"]
    last, used = tele["tok"]
    assert last == max(vended)
    assert all(used >> (last - c) & 1 for c in vended if last - c <= 16)
    print("\n%s: %d token counts vended, %d accepted events seen, ev_drops %s"
          % (meter_id, len(vended), len(counts), tele.get("ev_drops")))


def test_fifty_concurrent_topups_with_a_broker_restart(tmp_path, db):
    """On each backend (`db`): on PostgreSQL the API's concurrent vends and idempotency
    keys are serialized by the advisory lock, not SQLite's one writer."""
    s = Setup(tmp_path, 1, "--command-resend-s", "3", "--command-expire-s", "900", db=db())
    try:
        s.start(0)
        m = s.fleet[0].id
        amounts = [100 * (1 + i % 7) for i in range(50)]
        got = [None] * 50

        def vend(i):
            got[i] = s.topup(m, amounts[i])
        ts = [threading.Thread(target=vend, args=(i,)) for i in range(50)]
        t0 = time.monotonic()
        for t in ts[:25]:
            t.start()
        # mid-delivery (some answered, the rest queued or on the wire): what is in flight
        # may be lost with the broker
        assert wait_until(lambda: 3 <= sum(t["status"] == "accepted" for t in s.txs(m)) < 25,
                          30, 0.02), s.txs(m)
        s.broker.restart(kill=True)
        for t in ts[25:]:
            t.start()
        for t in ts:
            t.join()
        assert sorted(st for st, _ in got) == [201] * 50, got
        assert len({tx["token_count"] for _, tx in got}) == 50
        txs = wait_until(lambda: s.settled(m, 50), 240, 0.2)
        settled_s = time.monotonic() - t0     # a figure for the report, never asserted
        assert txs, ([(t["id"], t["status"], t["attempts"]) for t in s.txs(m)], s.consoles())
        bad = [t for t in txs if t["status"] != "accepted"]
        if bad:
            from databases import connect
            with connect(str(s.db)) as conn:
                open("/tmp/outbox_dump.txt", "w").write("\n".join(map(repr, conn.execute(
                    "SELECT id, cid, status, attempts, created, sent, done, result, reason"
                    " FROM outbox ORDER BY id").fetchall())) + "\n" + "\n".join(s.consoles()))
        assert all(t["status"].startswith("rejected: ") and t["reason"] for t in bad), bad
        assert bad == [], [(t["id"], t["token_count"], t["status"], t["attempts"]) for t in bad]
        total = sum(amounts)
        assert wait_until(lambda: s.credit(m) == total, 30), (s.credit(m), total)
        once(s, m, txs)
        st, c = api(s.base, "/api/meters/%s/credit" % m)
        assert (c["tokens_vended"], c["vended_total"], c["accepted_total"]) == (50, total, total)
        attempts = sum(t["attempts"] for t in txs)
        print("\n50 top-ups, broker killed mid-way: all settled in %.1f s, %d publishes, outbox %s"
              % (settled_s, attempts, api(s.base, "/api/health")[1].get("outbox")))

        # the ten-concurrent case of issue 11: all credited
        got = concurrently(10, lambda i: s.topup(m, 500))
        assert [st for st, _ in got] == [201] * 10
        assert wait_until(lambda: s.settled(m, 60), 120, 1), s.consoles()
        assert all(t["status"] == "accepted" for t in s.txs(m))
        assert wait_until(lambda: s.credit(m) == total + 5000, 30), s.credit(m)

        # one Idempotency-Key, four identical requests: one transaction, one credit
        got = [s.topup(m, 2000, key="order-42") for _ in range(4)]
        assert [st for st, _ in got] == [201, 200, 200, 200]
        assert len({(tx["id"], tx["token"]) for _, tx in got}) == 1
        # concurrent duplicates of another key: one transaction
        got = concurrently(8, lambda i: s.topup(m, 3000, key="order-43"))
        assert sorted(st for st, _ in got) == [200] * 7 + [201]
        assert len({tx["id"] for _, tx in got}) == 1
        assert s.topup(m, 2500, key="order-42")[0] == 409
        assert wait_until(lambda: s.settled(m, 62), 60, 1), s.consoles()
        assert all(t["status"] == "accepted" for t in s.txs(m))
        assert wait_until(lambda: s.credit(m) == total + 5000 + 2000 + 3000, 30), s.credit(m)
        once(s, m, s.txs(m))
        assert api(s.base, "/api/dead-letters")[1]["dead_letters"] == []
    finally:
        s.stop()


def test_busy_resent_and_offline_meter_expires(tmp_path):
    s = Setup(tmp_path, 2, "--command-resend-s", "5", "--command-expire-s", "30")
    try:
        s.start(0)
        m, off = s.fleet[0].id, s.fleet[1].id
        # while the meter is stopped (SIGSTOP: its socket still open), another client with
        # the gateway's rights queues 10 relay requests ("auto": no change) for it, then 8
        # top-ups go out (4 on the wire: the window). Let go, the meter reads them in one
        # burst: 8 fill its queue, the rest are answered busy
        user, password = s.fleet.gateway
        flood = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="flood")
        flood.username_pw_set(user, password)
        flood.connect("127.0.0.1", s.broker.gw_port)
        flood.loop_start()
        s.fleet[0].proc.send_signal(signal.SIGSTOP)
        try:
            for i in range(10):
                flood.publish("pm/%s/cmd/relay" % m, json.dumps(
                    {"ver": 1, "id": "flood-%d" % i, "action": "auto"}), qos=1).wait_for_publish(5)
            got = concurrently(8, lambda i: s.topup(m, 100))
            assert sorted(t["status"] for t in s.txs(m)) == ["queued"] * 4 + ["sent"] * 4
            time.sleep(0.5)        # the broker passes them on to the stopped meter's socket
        finally:
            s.fleet[0].proc.send_signal(signal.SIGCONT)
        flood.disconnect()
        flood.loop_stop()
        assert [st for st, _ in got] == [201] * 8
        assert wait_until(lambda: s.settled(m, 8), 120, 1), s.consoles()
        assert all(t["status"] == "accepted" for t in s.txs(m)), s.txs(m)
        assert wait_until(lambda: s.credit(m) == 800, 30), s.credit(m)
        once(s, m, s.txs(m))
        ob = api(s.base, "/api/health")[1]["outbox"]
        tele = api(s.base, "/api/meters/%s/realtime" % m)[1]["telemetry"]
        print("\n8 top-ups behind 10 other commands, meter stopped: outbox %s, meter cmd_busy %s"
              % (ob, tele.get("cmd_busy")))
        assert ob["busy"] > 0 and tele["cmd_busy"] > 0, (ob, tele)

        # the second meter never came online: its top-up expires, visibly
        st, tx = s.topup(off, 700)
        assert st == 201
        assert wait_until(lambda: s.txs(off)[0]["status"] == "expired", 90, 1), s.txs(off)
        alerts = api(s.base, "/api/alerts")[1]["alerts"]
        (a,) = [x for x in alerts if x["kind"] == "command_expired"]
        assert a["meter"] == off and a["severity"] == "critical"
        # it comes back: its token memory says the count is unused -> still expired
        s.start(1)
        # (the gateway applies a tele's tok in the transaction that stores the tele)
        assert wait_until(lambda: (s.tele(off) or {}).get("tok"), 30)
        assert s.txs(off)[0]["status"] == "expired"
        assert s.credit(off) == 0
        assert [x for x in api(s.base, "/api/alerts")[1]["alerts"]
                if x["kind"] == "command_expired"]
    finally:
        s.stop()

"""Command delivery (gateway/outbox.py) and idempotent vending (gateway/vend.py) through the
whole gateway (gateway.service.Gateway: ingest, outbox, HTTP API) and a real mosquitto.

The meter here is a paho client playing the meter's side of docs/protocol.md "Commands and
results": it verifies tokens with the shared OpenPAYGO codec (prepay/opaygo.py, the meter's
own decoder) against its token memory, queues at most 8 commands and answers `busy` beyond,
answers a repeated command id from its cache, and publishes `tele` with `tok`. Each test
makes it misbehave one way (slow, busy, answers lost, cache lost, offline). The real
firmware runs the same paths in tests/e2e/test_delivery_e2e.py."""
import json
import queue
import threading
import time
import urllib.error
import urllib.request

import paho.mqtt.client as mqtt
import pytest

from broker import free_port
from fixtures import backup, restore
from gateway.__main__ import parser, secrets
from gateway.service import Gateway
from prepay import opaygo
from waits import concurrently, subscribe, wait_until

KEY = "outbox-test-key"
TOKEN_KEY = "a29ab82edc5fbbc41ec9530f6dac86b1"
START = 123456789


class PaperMeter:
    """The meter's command side, over MQTT (see the module docstring)."""

    def __init__(self, broker, meter_id="m-1", key=TOKEN_KEY, queue_max=8, delay_s=0.0):
        self.b, self.id = broker, meter_id
        self.codec = opaygo.Codec(key, START)
        self.last, self.used = 0, 1            # token memory, as device/credit/tokens.py
        self.credit = 0
        self.queue_max, self.delay_s = queue_max, delay_s
        self.cache = {}                        # command id -> res (the meter's result cache)
        self.q = queue.Queue()
        self.lock = threading.Lock()
        self.busy_left = 0                     # answer this many commands busy
        self.drop_left = 0                     # apply this many, but lose their answers
        self.forget_cache = False              # a restart lost the cache: decode again
        self.lose_left = 0                     # lose this many commands on the way in
        self.config_error = False              # no valid config: apply nothing
        self.log = []                          # ("in" | "out", command id), in order
        self.applied = []                      # command ids applied (not from the cache)
        self.received = []                     # every command id, in arrival order
        self.open = set()                      # ids received, not yet answered
        self.max_open = 0
        self.busy_sent = 0
        self.c = None
        self._stop = threading.Event()
        self.worker = threading.Thread(target=self._work, daemon=True)
        self.worker.start()

    def connect(self):
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="paper-" + self.id,
                                 clean_session=True)
        c.will_set("pm/%s/LWT" % self.id, b"Offline", qos=1, retain=True)
        c.on_message = self._on_message
        c.on_connect = self._on_connect
        c.on_subscribe = self._on_subscribe
        c.reconnect_delay_set(0.1, 1)
        self.online = threading.Event()
        c.connect(self.b.host, self.b.port)
        c.loop_start()
        assert self.online.wait(5)
        return self

    def _on_connect(self, client, userdata, flags, reason, props):
        # every (re)connect, as the firmware: subscribe, then announce Online
        client.subscribe("pm/%s/cmd/#" % self.id, 1)
        client.publish("pm/%s/LWT" % self.id, b"Online", qos=1, retain=True)

    def _on_subscribe(self, client, userdata, mid, reasons, props):
        self.online.set()                      # commands sent from now on reach it

    def disconnect(self):
        self.c.publish("pm/%s/LWT" % self.id, b"Offline", qos=1, retain=True).wait_for_publish(5)
        self.c.disconnect()
        self.c.loop_stop()

    def close(self):
        self._stop.set()
        self.q.put(None)
        if self.c:
            self.c.disconnect()
            self.c.loop_stop()

    def _on_message(self, client, userdata, msg):
        kind = msg.topic.rsplit("/", 1)[1]
        if kind not in ("token", "relay", "config"):
            return
        d = json.loads(msg.payload)
        with self.lock:
            if self.lose_left > 0:
                self.lose_left -= 1
                return
            self.received.append(d["id"])
            self.log.append(("in", d["id"]))
            full = self.q.qsize() >= self.queue_max
            if full or self.busy_left > 0:
                self.busy_left -= not full
                self.busy_sent += 1
                self._res({"id": d["id"], "cmd": kind, "ok": False, "error": "busy"})
                return
            self.open.add(d["id"])
            self.max_open = max(self.max_open, len(self.open))
        self.q.put((kind, d))

    def _work(self):
        while not self._stop.is_set():
            item = self.q.get()
            if item is None:
                return
            time.sleep(self.delay_s)
            kind, d = item
            with self.lock:
                res = self.cache.get(d["id"]) if not self.forget_cache else None
                if res is None:
                    res = self._apply(kind, d)
                    self.applied.append(d["id"])
                    if res.get("error") != "config_error":
                        self.cache[d["id"]] = res
                self.open.discard(d["id"])
                if self.drop_left > 0:
                    self.drop_left -= 1
                    continue
                self._res(res)

    def _apply(self, kind, d):
        res = {"id": d["id"], "cmd": kind}
        if self.config_error and kind != "config":
            return dict(res, ok=False, error="config_error")   # not cached by the meter
        if kind == "token":
            st, value, mode, count = self.codec.decode(d["code"], self.last, self.used)
            res["ok"] = st == opaygo.OK
            if res["ok"]:
                self.last, self.used = opaygo.apply(self.last, self.used, count, mode)
                self.credit += value * 100
            else:
                res["error"] = {opaygo.USED: "used", opaygo.OLD: "old"}.get(st, "invalid")
            res["credit"] = self.credit
        elif kind == "relay":
            res["ok"] = True
        else:
            res["ok"] = "token" not in d["set"]
            if not res["ok"]:
                res["error"] = "token.key: cannot be changed over MQTT"
        return res

    def _res(self, res):
        if res.get("error") != "busy":
            self.log.append(("out", res["id"]))
        self.c.publish("pm/%s/res" % self.id, json.dumps(dict(res, ver=1)), qos=1)

    def tele(self):
        t = {"ver": 1, "t": 1767225600, "wh": 0, "p": 0, "v": 230.0, "i": 0, "pf": 1, "hz": 50,
             "status": "ok", "relay": True, "credit": self.credit, "seq": 0, "ack": 0,
             "backlog": 0, "tok": [self.last, self.used]}
        self.c.publish("pm/%s/tele" % self.id, json.dumps(t), qos=1).wait_for_publish(5)


class Gw:
    def __init__(self, broker, target, *extra):
        self.port = free_port()
        ap = parser()
        a = secrets(ap, ap.parse_args(
            ["--db", target, "--broker", "%s:%d" % (broker.host, broker.port),
             "--api-port", str(self.port), "--no-ha-discovery",
             "--client-id", "gw-outbox-test"] + list(extra)), env={"GATEWAY_API_KEYS": KEY})
        self.g = Gateway(a)
        for m in ("m-1", "m-2"):
            self.g.store.register_meter(m, token_key=TOKEN_KEY, token_starting_code=START)
        self.g.start()
        assert self.g.ingest.wait_connected()
        self.base = "http://127.0.0.1:%d" % self.port

    def call(self, method, path, body=None, headers=None):
        h = {"X-API-Key": KEY, "Content-Type": "application/json"}
        h.update(headers or {})
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(self.base + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=20) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def topup(self, amount, meter="m-1", key=None, ref=None):
        body = {"amount": amount}
        if ref is not None:
            body["ref"] = ref
        return self.call("POST", "/api/meters/%s/topup" % meter, body,
                         {"Idempotency-Key": key} if key else None)

    def txs(self, meter="m-1"):
        return self.call("GET", "/api/meters/%s/transactions?limit=1000" % meter)[1]["transactions"]

    def statuses(self, meter="m-1"):
        return sorted(t["status"] for t in self.txs(meter))

    def tok(self, meter="m-1"):
        """The token memory of the meter's latest tele, as the gateway stored it."""
        tele = self.call("GET", "/api/meters/%s/realtime" % meter)[1]["telemetry"]
        return tele and tele.get("tok")

    def alerts(self, kind):
        return [a for a in self.call("GET", "/api/alerts")[1]["alerts"] if a["kind"] == kind]

    def stop(self):
        self.g.stop()


@pytest.fixture
def setup(broker_factory, db):
    made = []

    def make(*extra, **meter_kw):
        b = broker_factory()
        gw = Gw(b, db("gw.db"), *extra)
        m = PaperMeter(b, **meter_kw)
        made.extend([m, gw])
        return b, gw, m
    yield make
    for x in made:
        (x.close if isinstance(x, PaperMeter) else x.stop)()


def test_ten_concurrent_topups_all_credited_in_order_within_the_window(setup):
    # a slow meter: without the window the 10 commands would overflow its queue of 8
    b, gw, m = setup("--command-resend-s", "30", delay_s=0.1)
    m.connect()
    got = concurrently(10, lambda i: gw.topup(100 * (i + 1)))
    assert sorted(st for st, _ in got) == [201] * 10
    assert wait_until(lambda: gw.statuses() == ["accepted"] * 10), gw.txs()
    assert m.credit == sum(100 * (i + 1) for i in range(10))
    assert m.busy_sent == 0 and m.max_open <= 4
    # ordered per meter: first publishes in transaction (= token count) order
    first = []
    for cid in m.received:
        if cid not in first:
            first.append(cid)
    assert first == [t["command_id"] for t in sorted(gw.txs(), key=lambda t: t["id"])]
    assert all(t["command_id"].startswith("tx-%d." % t["id"]) for t in gw.txs())
    assert all(t["attempts"] == 1 and t["reason"] is None for t in gw.txs())
    st, c = gw.call("GET", "/api/meters/m-1/credit")
    assert (c["tokens_vended"], c["accepted_total"]) == (10, 5500)


def test_a_lost_command_holds_back_the_window(setup):
    # the first three tokens are lost on the way: the gateway must not stream newer tokens
    # past them through the one free slot (the meter would refuse the lost ones as `old`
    # once its count ran 16 ahead)
    b, gw, m = setup("--command-resend-s", "1")
    m.connect()
    m.lose_left = 3
    for i in range(12):
        gw.topup(100)
    assert wait_until(lambda: gw.statuses() == ["accepted"] * 12), [(t["id"], t["status"], t["attempts"], t["reason"]) for t in gw.txs()][-5:]
    assert m.credit == 1200
    answered, first = set(), set()
    for what, cid in m.log:
        n = int(cid[3:].split(".")[0])        # tx-<n>.<random>
        if what == "out":
            answered.add(n)
        elif n not in first:
            first.add(n)
            older_open = [j for j in range(1, n) if j not in answered]
            assert len(older_open) < 4, (cid, older_open)
    assert max(t["attempts"] for t in gw.txs()) >= 2


def test_busy_answer_is_sent_again(setup):
    b, gw, m = setup("--command-resend-s", "60")
    m.connect()
    m.busy_left = 2
    st, tx = gw.topup(500)
    assert st == 201 and tx["status"] in ("queued", "sent")
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert m.credit == 500 and m.busy_sent == 2
    t = gw.txs()[0]
    assert t["attempts"] == 3      # two busy answers, long before the 60 s resend timeout
    assert gw.g.outbox.stats["busy"] == 2


def test_lost_answer_is_sent_again_and_answered_from_the_cache(setup):
    b, gw, m = setup("--command-resend-s", "1")
    m.connect()
    m.drop_left = 1
    gw.topup(700)
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert m.credit == 700 and gw.txs()[0]["attempts"] >= 2
    assert m.received.count(gw.txs()[0]["command_id"]) >= 2


def test_used_for_a_delivered_token_means_applied(setup):
    # the answer was lost and the meter's cache with it (a restart): it decodes the token
    # again and says "used": the gateway delivered that token, so it was credited
    b, gw, m = setup("--command-resend-s", "1")
    m.connect()
    m.drop_left = 1
    m.forget_cache = True
    gw.topup(900)
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    t = gw.txs()[0]
    assert m.credit == 900 and "used" in t["reason"]
    st, c = gw.call("GET", "/api/meters/m-1/credit")
    assert c["accepted_total"] == 900


def test_token_memory_settles_a_token_whose_answer_never_came(setup):
    b, gw, m = setup("--command-resend-s", "60")
    m.connect()
    m.drop_left = 1
    gw.topup(300)
    assert wait_until(lambda: m.credit == 300)
    time.sleep(0.3)
    assert gw.statuses() == ["sent"]              # applied, but the gateway cannot know yet
    m.tele()                                      # tok: [last, used] says it was
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert gw.txs()[0]["reason"].startswith("reconciled")
    assert gw.g.outbox.stats["reconciled"] == 1


def test_a_meter_in_config_error_keeps_the_top_up_open(setup):
    # no valid config on the meter: it applies nothing and says so; the paid top-up is not
    # rejected, it waits visibly and is credited once the meter is repaired
    b, gw, m = setup("--command-resend-s", "1")
    m.config_error = True
    m.connect()
    gw.topup(800)
    assert wait_until(lambda: (gw.txs()[0]["reason"] or "").startswith("the meter is in a "
                                                                       "config-error state"))
    t = gw.txs()[0]
    assert t["status"] == "sent" and m.credit == 0
    m.config_error = False                        # repaired
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert m.credit == 800 and gw.txs()[0]["reason"] is None
    assert gw.g.outbox.stats["config_error"] >= 1


def test_rejected_token_keeps_the_meter_reason(setup):
    b, gw, m = setup(key="00" * 16)                # the meter has another key: invalid
    m.connect()
    gw.topup(400)
    assert wait_until(lambda: gw.statuses() == ["rejected: invalid"]), gw.txs()
    t = gw.txs()[0]
    assert t["reason"] == "invalid" and m.credit == 0
    st, cmds = gw.call("GET", "/api/meters/m-1/commands")
    assert cmds["commands"][0]["result"]["error"] == "invalid"
    (a,) = gw.alerts("command_rejected")
    assert a["meter"] == "m-1" and a["count"] == 1


def test_offline_meter_past_expiry_expired_and_alert(setup):
    b, gw, m = setup("--command-resend-s", "0.5", "--command-expire-s", "2")
    st, tx = gw.topup(600)                        # the meter never connected
    assert wait_until(lambda: gw.statuses() == ["expired"]), gw.txs()
    t = gw.txs()[0]
    assert "no answer" in t["reason"] and t["attempts"] >= 1
    (a,) = gw.alerts("command_expired")
    assert a["meter"] == "m-1" and a["severity"] == "critical" and "top-up" in a["detail"]
    st, c = gw.call("GET", "/api/meters/m-1/credit")
    assert c["accepted_total"] == 0
    # the meter comes back: its token memory says the count was never used -> still expired
    m.connect()
    m.tele()
    assert wait_until(lambda: gw.tok() == [m.last, m.used])   # the gateway has read it
    assert gw.statuses() == ["expired"] and gw.alerts("command_expired")
    assert m.credit == 0


def test_an_expired_topup_sent_again_by_an_operator_is_credited_once(setup):
    b, gw, m = setup("--command-resend-s", "0.5", "--command-expire-s", "2")
    st, tx = gw.topup(600)                        # the meter is away past the expiry
    assert wait_until(lambda: gw.statuses() == ["expired"]), gw.txs()
    path = "/api/meters/m-1/transactions/%d/resend" % tx["id"]
    st, err = gw.call("POST", path, headers={"X-API-Key": "wrong"})
    assert st == 401 and gw.statuses() == ["expired"]
    assert gw.call("POST", "/api/meters/m-1/transactions/%d/resend" % (tx["id"] + 1))[0] == 404
    assert gw.call("POST", "/api/meters/m-2/transactions/%d/resend" % tx["id"])[0] == 404
    assert gw.call("POST", "/api/meters/m-1/transactions/x1/resend")[0] == 404
    m.connect()
    st, cmd = gw.call("POST", path)
    assert st == 202 and cmd["cid"] == tx["command_id"] and cmd["status"] in ("queued", "sent")
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert m.credit == 600 and m.received == [tx["command_id"]]
    assert wait_until(lambda: not gw.alerts("command_expired"))
    # accepted now: sending it again is refused, and the meter is credited once
    st, err = gw.call("POST", path)
    assert st == 409 and "accepted" in err["error"], err
    assert m.credit == 600


def test_meter_reconnect_sends_again_before_the_timeout(setup):
    b, gw, m = setup("--command-resend-s", "600")
    m.connect()
    m.disconnect()                                # clean session: the broker keeps nothing
    assert wait_until(lambda: b.log().count("Client paper-m-1 disconnected") == 1)
    seen = []                                     # proof the first publish passed the broker
    spy = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id="spy")
    spy.on_message = lambda c, u, msg: seen.append(json.loads(msg.payload)["id"])
    spy.connect(b.host, b.port)
    spy.loop_start()
    subscribe(spy, "pm/m-1/cmd/token")
    st, tx = gw.topup(200)
    assert wait_until(lambda: seen == [tx["command_id"]])
    assert gw.statuses() == ["sent"]
    m.connect()                                   # LWT Online: send again now, not in 600 s
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert m.credit == 200 and gw.txs()[0]["attempts"] == 2
    assert m.received == [tx["command_id"]]
    spy.disconnect()
    spy.loop_stop()


def test_idempotency_key_vends_once(setup):
    b, gw, m = setup()
    m.connect()
    got = [gw.topup(5000, key="order-42", ref="order-42") for _ in range(4)]
    assert [st for st, _ in got] == [201, 200, 200, 200]
    assert len({tx["id"] for _, tx in got}) == 1 and len({tx["token"] for _, tx in got}) == 1
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert m.credit == 5000
    st, again = gw.topup(5000, key="order-42")
    assert st == 200 and again["status"] == "accepted" and again["idempotency_key"] == "order-42"
    # the body's ref is the key when there is no header
    assert gw.topup(5000, ref="order-42")[0] == 200
    st, err = gw.topup(3000, key="order-42")
    assert st == 409 and "order-42" in err["error"] and "5000" in err["error"]
    # keys are per meter
    assert gw.topup(5000, meter="m-2", key="order-42")[0] == 201
    assert len(gw.txs()) == 1 and m.credit == 5000


def test_concurrent_duplicates_of_one_key_make_one_transaction(setup):
    b, gw, m = setup()
    m.connect()
    got = concurrently(12, lambda i: gw.topup(2500, key="pay-7"))
    assert sorted(st for st, _ in got) == [200] * 11 + [201]
    assert len({tx["id"] for _, tx in got}) == 1
    assert wait_until(lambda: gw.statuses() == ["accepted"]), gw.txs()
    assert m.credit == 2500


@pytest.mark.parametrize("headers,status,msg", [
    ({"Idempotency-Key": "x" * 201}, 400, "Idempotency-Key"),
    ({"Idempotency-Key": "tab\there"}, 400, "printable"),
])
def test_bad_idempotency_key(setup, headers, status, msg):
    b, gw, m = setup()
    st, err = gw.call("POST", "/api/meters/m-1/topup", {"amount": 100}, headers)
    assert st == status and msg in err["error"]
    assert gw.txs() == []


def test_relay_and_config_commands(setup):
    b, gw, m = setup()
    m.connect()
    st, cmd = gw.call("POST", "/api/meters/m-1/relay", {"action": "open"})
    assert st == 202 and cmd["kind"] == "relay" and cmd["status"] == "sent"
    st, bad = gw.call("POST", "/api/meters/m-1/config", {"set": {"token": {"key": "0" * 32}}})
    assert st == 202
    st, ok = gw.call("POST", "/api/meters/m-1/config", {"set": {"mqtt": {"tele_s": 5}},
                                                      "restart": True})
    assert st == 202 and ok["payload"] == {"set": {"mqtt": {"tele_s": 5}}, "restart": True}

    def done():
        c = gw.call("GET", "/api/meters/m-1/commands")[1]["commands"]
        return {x["id"]: x for x in c} if all(x["status"] not in ("queued", "sent")
                                             for x in c) else None
    c = wait_until(done)
    assert c, gw.call("GET", "/api/meters/m-1/commands")
    assert c[cmd["id"]]["status"] == "accepted" and c[ok["id"]]["status"] == "accepted"
    assert c[bad["id"]]["status"] == "rejected" and "cannot be changed" in c[bad["id"]]["reason"]


@pytest.mark.parametrize("path,body,status,msg", [
    ("relay", {"action": "explode"}, 400, "one of open"),
    ("relay", {}, 400, "missing field 'action'"),
    ("config", {"set": {}}, 400, "non-empty object"),
    ("config", {"set": "mqtt"}, 400, "non-empty object"),
    ("config", {"set": {"a": 1}, "restart": "yes"}, 400, "restart"),
    ("config", {"set": {"tariff": {"x": "y" * 3000}}}, 400, "too large"),
])
def test_bad_commands(setup, path, body, status, msg):
    b, gw, m = setup()
    st, err = gw.call("POST", "/api/meters/m-1/" + path, body)
    assert st == status and msg in err["error"], err
    assert gw.call("GET", "/api/meters/m-1/commands")[1]["commands"] == []
    assert gw.call("POST", "/api/meters/nope/relay", {"action": "open"})[0] == 404


def test_broker_restart_in_the_middle(setup):
    b, gw, m = setup("--command-resend-s", "1", delay_s=0.02)
    m.connect()
    got = concurrently(20, lambda i: gw.topup(100))
    b.restart(kill=True)
    m.c.reconnect_delay_set(0.1, 1)
    assert wait_until(lambda: gw.statuses() == ["accepted"] * 20, timeout=60), gw.txs()
    assert m.credit == 2000 and len({tx["id"] for _, tx in got}) == 20


def test_answers_that_do_not_fit_change_nothing(setup):
    b, gw, m = setup("--command-resend-s", "60")
    m.connect()
    st, tx = gw.topup(100)
    assert wait_until(lambda: gw.statuses() == ["accepted"])
    store = gw.g.store
    cid = tx["command_id"]
    # a repeated answer, a busy after the end, the wrong kind, an unknown id
    assert store.command_result("m-1", {"id": cid, "cmd": "token", "ok": False, "error": "old"})
    assert store.command_result("m-1", {"id": cid, "cmd": "token", "ok": False, "error": "busy"})
    assert not store.command_result("m-1", {"id": cid, "cmd": "relay", "ok": False})
    assert not store.command_result("m-1", {"id": "relay-999", "cmd": "relay", "ok": True})
    t = gw.txs()[0]
    assert (t["status"], t["reason"], t["attempts"]) == ("accepted", None, 1)
    # another meter's answer with this id does not touch it
    assert not store.command_result("m-2", {"id": cid, "cmd": "token", "ok": False,
                                            "error": "invalid"})
    assert gw.txs()[0]["status"] == "accepted"
    # command listings need the key; metrics count by status
    req = urllib.request.Request(gw.base + "/api/meters/m-1/commands")
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(req, timeout=10)
    assert e.value.code == 401
    with urllib.request.urlopen(gw.base + "/metrics", timeout=10) as r:
        text = r.read().decode()
    assert 'gateway_commands{status="accepted"} 1' in text


@pytest.mark.parametrize("how", ["restored", "fresh"])
def test_a_restored_or_fresh_database_reuses_no_command_id_and_no_token_count(
        setup, broker_factory, tmp_path, how, backend):
    """The gateway's database is restored from a backup taken before a top-up and a config
    command, or started afresh with the meters registered again: its row ids and token
    counter start again from where they stand. The meter still holds the answers to the
    earlier ids (its last 16) and has used the earlier counts: a new top-up carrying an old
    id was answered from that cache, and one at a used count refused as `used` (taken for
    applied): paid, never credited. Command ids carry a random part, and the meter's
    reported `tok` raises the counter, so both are applied."""
    if backend != "sqlite":
        pytest.skip("the backup is a copy of the SQLite file (tests/fixtures.backup)")
    b, gw, m = setup("--command-resend-s", "1")
    m.connect()
    backup(tmp_path / "gw.db", tmp_path / "backup.db")
    gw.topup(500)
    st, cmd = gw.call("POST", "/api/meters/m-1/config", {"set": {"mqtt": {"tele_s": 31}}})
    assert st == 202
    assert wait_until(lambda: gw.statuses() == ["accepted"] and gw.call(
        "GET", "/api/meters/m-1/commands")[1]["commands"][0]["status"] == "accepted")
    before = list(m.applied)
    gw.stop()
    if how == "restored":
        restore(tmp_path / "backup.db", tmp_path / "gw.db")
    gw = Gw(b, str(tmp_path / ("gw.db" if how == "restored" else "fresh.db")),
            "--command-resend-s", "1")
    try:
        m.tele()                                  # tok: [last, used], as every tele carries
        assert wait_until(lambda: gw.tok() == [m.last, m.used])
        last = m.last
        st, tx = gw.topup(700)
        assert st == 201 and tx["token_count"] > last
        st, cmd2 = gw.call("POST", "/api/meters/m-1/config", {"set": {"mqtt": {"tele_s": 29}}})
        assert wait_until(lambda: gw.statuses() == ["accepted"] and gw.call(
            "GET", "/api/meters/m-1/commands")[1]["commands"][0]["status"] == "accepted")
        assert m.credit == 1200                   # both top-ups credited
        assert cmd2["cid"] != cmd["cid"] and tx["command_id"] not in before
        assert m.applied == before + [tx["command_id"], cmd2["cid"]]   # applied, not cached
    finally:
        gw.stop()

"""The broker's own defences (host_tools/broker.py, docs/broker.md), against a real mosquitto:
a client holding one meter's password cannot knock another meter off by taking its client
id, neither on the meters' listener nor on the gateway's; the gateway's workers keep their
own client ids; a message bigger than the protocol's largest is refused by the broker and
never reaches the gateway, while the largest legitimate one passes."""
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest

import fixtures
from broker import Broker, free_port
from fixtures import batch
from waits import wait_until
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools import frozen
from host_tools.fleet import Fleet
from host_tools.provision import Provisioner
from prepay import opaygo
from prepay import protocol as P

T0 = 1767225600



class Watch:
    """A gateway-side subscriber on the gateway's listener, keeping every message."""

    def __init__(self, b, user, password, topic, cid="watch"):
        self.got = []
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
        c.username_pw_set(user, password)
        c.on_message = lambda c, u, m: self.got.append((m.topic, bytes(m.payload)))
        c.on_connect = lambda c, u, f, r, p: c.subscribe(topic, 1)
        c.connect(b.host, b.gw_port)
        c.loop_start()

    def payloads(self, topic):
        return [p for t, p in self.got if t == topic]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def try_connect(host, port, user, password, cid, timeout=5):
    """Connect once: the reason code (None: no answer), and the client still connected."""
    done = threading.Event()
    rc = []
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid)
    c.username_pw_set(user, password)
    c.on_connect = lambda c, u, f, r, p: (rc.append(r), done.set())
    c.connect(host, port)
    c.loop_start()
    done.wait(timeout)
    return (rc[0] if rc else None), c


def test_another_meters_client_id_cannot_take_over_its_session(tmp_path):
    """Meter B runs the real firmware. A client with meter A's password connects over and
    over with B's client id (the attack that kicked B 40 times in 20 s); meanwhile the
    gateway vends B a token. B is never disconnected and accepts the token."""
    port = free_port()
    store = Store(tmp_path / "gw.db")
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=2, speed=60, store=store,
                  epoch=T0, config={"mqtt": {"tele_s": 60}})
    a, b_id = fleet[0].id, fleet[1].id
    a_pw = fleet.prov.meter(a)["password"]
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    ing = Ingest(store, broker.host, broker.gw_port, *fleet.gateway, clock=fleet.meter_time,
                 client_id="gw-kick").start()
    watch = Watch(broker, *fleet.gateway, "pm/%s/#" % b_id)
    fleet.fw = frozen.firmware()
    fleet[1].start()                         # only B runs; A's password is the attacker's
    lwt = "pm/%s/LWT" % b_id
    try:
        assert ing.wait_connected()
        assert wait_until(lambda: watch.payloads(lwt) == [P.ONLINE], 30), fleet[1].console()
        stop = threading.Event()
        accepted = []

        def attack():
            while not stop.is_set():
                rc, c = try_connect(broker.host, broker.port, a, a_pw, b_id)
                if rc is not None and not rc.is_failure:
                    accepted.append(rc)
                time.sleep(0.05)
                c.disconnect()
                c.loop_stop()

        t = threading.Thread(target=attack, daemon=True)
        t.start()
        assert wait_until(lambda: accepted, 10)      # the attack is under way
        key, start = store.secret(b_id)
        code, _ = opaygo.Codec(key, start).vend(5, 0)
        assert ing.send_command(b_id, P.TOKEN, id="tx-kick", code=code)
        res = "pm/%s/res" % b_id
        assert wait_until(lambda: watch.payloads(res), 20), (watch.got, fleet[1].console())
        n = len(accepted)
        assert wait_until(lambda: len(accepted) >= n + 5, 20)   # and goes on after the token
        stop.set()
        t.join(10)
        # the attacker got in - as A, its username - but B's session was never touched
        assert len(accepted) >= 5
        assert watch.payloads(lwt) == [P.ONLINE], watch.payloads(lwt)
        log = broker.log()
        assert "Client %s already connected" % b_id not in log
        assert "New client connected from 127.0.0.1" in log and " as %s " % a in log
        r = P.decode(P.RES, watch.payloads(res)[0])
        assert (r["id"], r["ok"]) == ("tx-kick", True), r
        # nor on the gateway's listener: a meter's password does not open it
        rc, c = try_connect(broker.host, broker.gw_port, a, a_pw, b_id)
        c.loop_stop()
        assert rc is None or rc.is_failure
        assert watch.payloads(lwt) == [P.ONLINE]
    finally:
        fleet.stop()
        watch.close()
        ing.stop()
        broker.stop()
        store.close()


@pytest.fixture
def rig(tmp_path):
    p = Provisioner(tmp_path / "prov")
    store = Store(tmp_path / "gw.db")
    for mid in ("meter-a", "meter-b"):
        p.add_meter(mid, tmp_path / mid, "127.0.0.1", 1883, store=store)
    passwd, acl = p.write_broker_files()
    b = Broker(tmp_path / "mq", passwd=passwd, acl=acl).start()
    yield p, b, store
    b.stop()
    store.close()


def test_gateway_workers_keep_their_client_ids(rig):
    """Two ingest workers sharing the load ($share) and the gateway's other connections
    use the same username with client ids of their own: on the gateway's listener none
    displaces another."""
    p, b, store = rig
    w1 = Ingest(store, b.host, b.gw_port, *p.gateway, client_id="gw-1", share="g").start()
    w2 = Ingest(store, b.host, b.gw_port, *p.gateway, client_id="gw-2", share="g").start()
    other = Watch(b, *p.gateway, "pm/+/LWT", cid="gw-ha")
    try:
        assert w1.wait_connected() and w2.wait_connected()
        time.sleep(1.5)
        for w in (w1, w2):
            assert (w.stats["connected"], w.stats["connects"], w.stats["disconnects"]) == \
                (True, 1, 0)
        assert "already connected" not in b.log()
    finally:
        other.close()
        w1.stop()
        w2.stop()


def test_meter_ids_cannot_take_the_gateways_client_ids(tmp_path):
    p = Provisioner(tmp_path / "prov")
    for bad in ("gateway", "gateway-ha", "gateway-2"):
        with pytest.raises(ValueError):
            p.add_meter(bad, tmp_path / "m", "127.0.0.1", 1883)
    p.add_meter("gateways", tmp_path / "m", "127.0.0.1", 1883)   # another name: fine


def rec_batch(n, first=1):
    return batch([fixtures.rec(s, t0=T0, avg_dw=1000, i_ma=4000, pf_m=900)
                  for s in range(first, first + n)])


def test_oversized_publish_is_refused_and_never_dead_lettered(rig):
    """10 MB to a meter's own rec topic: the broker drops the client and the message; the
    gateway sees nothing (it used to store every one as a 10 MB dead letter). The
    protocol's largest message, a full batch of REC_MAX records, still goes through."""
    p, b, store = rig
    ing = Ingest(store, b.host, b.gw_port, *p.gateway, client_id="gw-big").start()
    assert ing.wait_connected()
    a_pw = p.meter("meter-a")["password"]
    rc, c = try_connect(b.host, b.port, "meter-a", a_pw, "meter-a")
    assert rc is not None and not rc.is_failure
    gone = threading.Event()
    c.on_disconnect = lambda *a: gone.set()
    try:
        for _ in range(3):
            c.publish("pm/meter-a/rec", b"\x01\x00\x01\x00" + bytes(10 * 2 ** 20), qos=1)
        assert gone.wait(20)                   # max_packet_size: the broker hangs up
        c.loop_stop()
        rc, c = try_connect(b.host, b.port, "meter-a", a_pw, "meter-a")
        full = rec_batch(P.REC_MAX)
        assert len(full) == P.PAYLOAD_MAX
        c.publish("pm/meter-a/rec", full, qos=1).wait_for_publish(10)
        # ingest handles messages in order: any that came before the batch is handled too
        assert wait_until(lambda: ing.stats["stored"] >= P.REC_MAX, 20), ing.stats
        assert ing.stats["dead_letters"] == 0
        assert store.query("SELECT count(*) AS n FROM dead_letters")[0]["n"] == 0
        assert store.high_contiguous("meter-a") == P.REC_MAX
        assert "Client meter-a disconnected due to oversize packet" in b.log()
    finally:
        c.disconnect()
        c.loop_stop()
        ing.stop()


def test_docs_give_the_limits_the_broker_sets():
    doc = (Path(__file__).resolve().parents[2] / "docs" / "broker.md").read_text()
    from host_tools.broker import limits_conf
    for line in limits_conf():
        assert "`%s`" % line in doc, line

"""gateway/ingest.py's two MQTT connections against a real mosquitto with the provisioned
ACL (host_tools/provision.py acl_text): records come in on the gateway's login, acks and
commands go out on the write-only `gateway-out` login with a client id of their own. A
refused publishing login stops acks and commands (counted, visible) but not ingest, and they
all go out once the broker takes the login; a broker killed and restarted brings both
connections back with every ack at its final value and every command delivered."""
import json

import paho.mqtt.client as mqtt
import pytest

from broker import Broker, write_passwd
from fixtures import batch
from waits import subscribe, wait_until
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools.broker import gateway_passwd
from host_tools.provision import acl_text
from prepay import protocol as P
from test_ingest import T0, rec

USERS = {"gateway": "gw-pw", "gateway-out": "out-pw", "m-1": "m1-pw", "m-2": "m2-pw"}
GATEWAY_USERS = ("gateway", "gateway-out")
METERS = ("m-1", "m-2")


class Meter:
    """A meter's MQTT side on the meters' listener, logged in as itself (the ACL's pattern
    lines): publishes records, keeps every command it is sent."""

    def __init__(self, b, mid):
        self.mid, self.cmds = mid, []
        c = self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=mid,
                                 clean_session=False)
        c.username_pw_set(mid, USERS[mid])
        c.on_message = lambda c, u, m: self.cmds.append((m.topic.rsplit("/", 1)[1],
                                                         json.loads(m.payload)))
        c.on_connect = lambda c, u, f, r, p: c.subscribe("pm/%s/cmd/#" % mid, 1)
        c.reconnect_delay_set(0.1, 1)
        c.connect(b.host, b.port)
        c.loop_start()
        subscribe(c, "pm/%s/cmd/#" % mid)

    def send(self, seqs):
        for s in seqs:
            self.c.publish("pm/%s/rec" % self.mid, batch([rec(s)]), qos=1).wait_for_publish(10)

    def ack(self):
        return max([d["seq"] for k, d in self.cmds if k == P.ACK], default=0)

    def got(self, kind):
        return [d for k, d in self.cmds if k == kind]

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()


def broker(tmp_path, users):
    return Broker(tmp_path / "mq", users=users, acl=acl_text(out_user="gateway-out"),
                  gateway_users=GATEWAY_USERS).start()


@pytest.fixture
def store(db):
    s = Store(db("gw.db"))
    for m in METERS:
        s.register_meter(m, interval_s=60)
    yield s
    s.close()


def ingest(store, b, **kw):
    return Ingest(store, b.host, b.gw_port, "gateway", USERS["gateway"], client_id="gw",
                  out_user="gateway-out", out_password=USERS["gateway-out"], replay_wait=60,
                  clock=lambda: T0, **kw).start()


def test_acks_and_commands_wait_for_a_refused_publishing_login(tmp_path, store):
    # the broker does not know the publishing login yet (provisioning not reloaded)
    b = broker(tmp_path, {u: p for u, p in USERS.items() if u != "gateway-out"})
    ing = ingest(store, b)
    meters = [Meter(b, m) for m in METERS]
    try:
        assert wait_until(lambda: ing.stats["out_refused"] > 0, 20), ing.stats
        assert ing.stats["in_connected"] and not ing.stats["out_connected"]
        assert not ing.stats["connected"] and not ing.wait_connected(0.2)
        assert ing.stats["last_refusal"].startswith("publishing: ")
        for m in meters:
            m.send(range(1, 6))
        # ingest goes on: records are stored, but no ack goes out on the receiving login
        assert wait_until(lambda: all(store.high_contiguous(m) == 5 for m in METERS), 20)
        assert ing.send_command("m-1", P.RELAY, id="relay-1.0", action="open")
        assert ing.stats["acks"] == 0 and all(m.cmds == [] for m in meters)
        # provisioning adds the login and the broker re-reads its files
        write_passwd(b.passwd, USERS)
        gateway_passwd(b.passwd, b.dir / "passwd.gateway", GATEWAY_USERS)
        b.reload()
        assert wait_until(lambda: ing.stats["connected"], 30), ing.stats
        assert wait_until(lambda: all(m.ack() == 5 for m in meters), 20), [m.cmds for m in meters]
        assert wait_until(lambda: meters[0].got(P.RELAY), 20)   # held by paho, then sent
        assert meters[0].got(P.RELAY)[0]["id"] == "relay-1.0"
        assert ing.stats["connects"] == 1 and ing.stats["store_errors"] == 0
    finally:
        for m in meters:
            m.close()
        ing.stop()
        b.stop()


def test_both_connections_come_back_after_broker_kills(tmp_path, store):
    b = broker(tmp_path, USERS)
    ing = ingest(store, b, ack_inflight=8)
    assert ing.wait_connected()
    meters = [Meter(b, m) for m in METERS]
    top = 0
    try:
        for round_ in range(3):
            for m in meters:
                m.send(range(top + 1, top + 11))
            top += 10
            # a SIGKILLed broker loses what it acknowledged but had not yet delivered; a real
            # meter sends again from its ack (tests/e2e), this fake one does not
            assert wait_until(lambda: all(store.high_contiguous(m) == top for m in METERS), 20)
            b.kill()
            assert wait_until(lambda: not ing.stats["in_connected"]
                              and not ing.stats["out_connected"], 30)
            # a command while the broker is down: paho holds it for the next connection
            assert ing.send_command("m-2", P.RELAY, id="relay-%d.0" % round_, action="close")
            b.start()
            assert wait_until(lambda: ing.stats["connects"] == round_ + 2
                              and ing.stats["out_connects"] == round_ + 2, 30), ing.stats
            assert ing.wait_connected(30)
            for m in meters:
                m.send(range(top + 1, top + 11))
            top += 10
            assert wait_until(lambda: all(m.ack() == top for m in meters), 30), \
                (round_, top, [m.ack() for m in meters], ing.stats)
            assert wait_until(lambda: len(meters[1].got(P.RELAY)) == round_ + 1, 20), \
                meters[1].cmds
        assert ing.stats["out_disconnects"] == 3 and ing.stats["disconnects"] == 3
        assert all(store.high_contiguous(m) == top for m in METERS)
        assert ing.stats["store_errors"] == 0 and ing.stats["out_refused"] == 0
    finally:
        for m in meters:
            m.close()
        ing.stop()
        b.stop()

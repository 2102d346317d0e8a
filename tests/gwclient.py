"""The gateway's side of the wire for tests: a paho client with the gateway's credentials
that publishes commands and collects every res (by id), evt, tele and info, each validated
by prepay.protocol as the gateway's ingest validates it."""
import threading

import paho.mqtt.client as mqtt

from prepay import protocol as P


class GwClient:
    def __init__(self, port, user, password, meter="m-001", client_id="gateway-test"):
        # port: the broker's gateway listener (Broker.gw_port); the client id starts with
        # the gateway's username, as docs/broker.md asks
        self.meter = meter
        self.res, self.evt, self.tele, self.info = {}, [], [], []
        self.lock = threading.Lock()
        self.c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id)
        self.c.username_pw_set(user, password)
        self.subscribed = threading.Event()
        self.c.on_message = self._msg
        self.c.on_connect = lambda c, u, f, r, p: c.subscribe("pm/+/#", 1)   # each connect
        self.c.on_subscribe = lambda c, u, mid, rc, p: self.subscribed.set()
        self.c.connect("127.0.0.1", port)
        self.c.loop_start()
        # back once the broker's SUBACK is in: every answer from now on is collected
        assert self.subscribed.wait(10), "no SUBACK for the gateway's test client"

    def _msg(self, c, u, m):
        leaf = m.topic.rsplit("/", 1)[1]
        if leaf not in (P.RES, P.EVT, P.TELE, P.INFO):
            return
        d = P.decode(leaf, m.payload)          # the gateway's validator accepts every one
        with self.lock:
            if leaf == P.RES:
                self.res.setdefault(d["id"], []).append(d)
            else:
                getattr(self, leaf).append(d)

    def send(self, kind, **fields):
        return self.c.publish("pm/%s/cmd/%s" % (self.meter, kind), P.encode(kind, **fields),
                              qos=1)

    def answers(self, cid):
        with self.lock:
            return list(self.res.get(cid, ()))

    def events(self, kind):
        with self.lock:
            return [e for e in self.evt if e["kind"] == kind]

    def last_tele(self):
        with self.lock:
            return self.tele[-1] if self.tele else None

    def close(self):
        self.c.disconnect()
        self.c.loop_stop()

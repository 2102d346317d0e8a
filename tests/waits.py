"""Polling for tests on real processes: wait for a condition, never for a fixed time; and
run calls at once from threads (concurrent API clients).

    from waits import wait_until
    assert wait_until(lambda: store.meter(m)["online"], 30)
"""
import threading
import time

import paho.mqtt.client as mqtt


def wait_until(pred, timeout=20, step=0.05, errors=()):
    """pred()'s first truthy value (so a caller can keep it), False once `timeout` seconds
    have passed. An exception in `errors` counts as not yet (a server still starting)."""
    end = time.monotonic() + timeout
    while True:
        try:
            v = pred()
        except errors:
            v = None
        if v or time.monotonic() >= end:
            return v or False
        time.sleep(step)


def concurrently(n, fn):
    """[fn(0), ..., fn(n-1)], each called in its own thread, all started before any joins."""
    out = [None] * n
    ts = [threading.Thread(target=lambda i=i: out.__setitem__(i, fn(i))) for i in range(n)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    return out


def subscribe(client, topics, qos=1, timeout=10, refused_ok=False):
    """Subscribe a started paho client (VERSION2 callbacks) and return the broker's reason
    codes once its SUBACK is in: messages published after this reach it. A refused topic is
    an error unless `refused_ok`. Chains to the client's own on_subscribe."""
    acked = {}
    cond = threading.Condition()
    own = client.on_subscribe

    def on_subscribe(c, userdata, mid, reasons, props):
        with cond:
            acked[mid] = reasons
            cond.notify_all()
        if own:
            own(c, userdata, mid, reasons, props)

    client.on_subscribe = on_subscribe
    try:
        topics = [topics] if isinstance(topics, str) else topics
        rc, mid = client.subscribe([(t, qos) for t in topics])
        if rc != mqtt.MQTT_ERR_SUCCESS:
            raise AssertionError("subscribe %s: %s" % (topics, mqtt.error_string(rc)))
        with cond:
            if not cond.wait_for(lambda: mid in acked, timeout):
                raise AssertionError("no SUBACK for %s within %s s" % (topics, timeout))
        bad = [str(r) for r in acked[mid] if r.is_failure]
        if bad and not refused_ok:
            raise AssertionError("subscription to %s refused: %s" % (topics, bad))
        return acked[mid]
    finally:
        client.on_subscribe = own

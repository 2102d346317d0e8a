"""MQTT load for the gateway benchmarks (a helper process, not a benchmark itself).

    python tests/bench/loadgen.py pub HOST PORT USER PW --meters 1000 --records 100 --batch 1
    python tests/bench/loadgen.py sub HOST PORT USER PW --count N     (baseline subscriber)

pub: every meter's records (real prepay.record bytes in prepay.protocol rec batches, 1 Wh
a minute) are built first, then published QoS 1 as fast as the broker takes them, meters
interleaved (as a live fleet sends), `batch` records per message, from pre-encoded MQTT
packets on a raw socket (a paho publisher would be the bottleneck). Prints one JSON line.
sub: a bare paho subscriber that only counts messages: the MQTT ceiling of this machine.
"""
import argparse
import json
import socket
import struct
import sys
import threading
import time
from pathlib import Path

import paho.mqtt.client as mqtt

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from host_tools import rawmqtt  # noqa: E402
from prepay import protocol as P  # noqa: E402
from prepay import record  # noqa: E402

T0 = int(time.time()) // 86400 * 86400 - 7 * 86400   # recent: inside the retention period


def meter_id(i):
    return "m-%05d" % i


def payloads(meters, records, batch, first_meter=0, start_seq=1, prefix="pm"):
    out = []
    for k in range(start_seq, start_seq + records, batch):
        n = min(batch, start_seq + records - k)
        for i in range(first_meter, first_meter + meters):
            buf = bytearray(P.REC_HDR + n * record.SIZE)
            struct.pack_into(P.REC_FMT, buf, 0, P.VER, P.R_REPLAY if batch > 1 else 0, n)
            for j in range(n):
                s = k + j
                record.pack_into(buf, P.REC_HDR + j * record.SIZE, s, T0 + 60 * s, s, 600,
                                 2300, 260, 990, 5000, 10000, 0)
            out.append((P.topic(prefix, meter_id(i), P.REC), bytes(buf)))
    return out


def client(a, cid):
    c = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=cid, clean_session=True)
    c.username_pw_set(a.user, a.password)
    c.max_inflight_messages_set(a.inflight)
    c.max_queued_messages_set(0)
    return c


def pub(a):
    """Publish over a raw MQTT 3.1.1 socket: the packets are encoded up front, so the load
    generator costs next to nothing and the broker and gateway are what is measured. At most
    `inflight` QoS 1 messages are unacknowledged (PUBACKs are counted by a reader thread)."""
    msgs = payloads(a.meters, a.records, a.batch, a.first_meter, a.start_seq, a.prefix)
    pkts = [rawmqtt.publish_qos1(t, p, k % 65535 + 1) for k, (t, p) in enumerate(msgs)]
    sock = socket.create_connection((a.host, a.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    sock.sendall(rawmqtt.connect(a.client_id, a.user, a.password))
    rawmqtt.check_connack(sock.recv(4))
    acked = [0]
    moved = threading.Condition()

    def reader():
        buf = b""
        while acked[0] < len(pkts):
            data = sock.recv(65536)
            if not data:
                return
            buf += data
            n = len(buf) // 4          # only PUBACKs (4 bytes) come back
            buf = buf[n * 4:]
            with moved:
                acked[0] += n
                moved.notify()
    th = threading.Thread(target=reader, daemon=True)
    th.start()
    t = time.perf_counter()
    k, chunk = 0, 64
    while k < len(pkts):
        with moved:
            while k - acked[0] > a.inflight - chunk:
                moved.wait()
        sock.sendall(b"".join(pkts[k:k + chunk]))
        k += chunk
    th.join(600)
    dt = time.perf_counter() - t
    sock.sendall(rawmqtt.DISCONNECT)
    sock.close()
    print(json.dumps({"messages": len(msgs), "records": a.meters * a.records, "seconds": dt,
                      "msg_per_s": len(msgs) / dt, "acked": acked[0]}), flush=True)


def sub(a):
    c = client(a, a.client_id)
    got = [0, 0.0]
    done = threading.Event()

    def on_message(cl, u, m):
        if got[0] == 0:
            got[1] = time.perf_counter()
        got[0] += 1
        if got[0] >= a.count:
            done.set()
    c.on_message = on_message
    c.on_connect = lambda cl, u, f, rc, p: cl.subscribe(a.topic, qos=1)
    c.connect(a.host, a.port)
    c.loop_start()
    print(json.dumps({"ready": True}), flush=True)
    done.wait(600)
    dt = time.perf_counter() - got[1]
    c.loop_stop()
    print(json.dumps({"messages": got[0], "seconds": dt, "msg_per_s": got[0] / dt}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("mode", choices=("pub", "sub"))
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("user")
    ap.add_argument("password")
    ap.add_argument("--meters", type=int, default=1000)
    ap.add_argument("--first-meter", type=int, default=0)
    ap.add_argument("--records", type=int, default=100)
    ap.add_argument("--start-seq", type=int, default=1)
    ap.add_argument("--batch", type=int, default=1)
    ap.add_argument("--prefix", default="pm")
    ap.add_argument("--inflight", type=int, default=1000)
    ap.add_argument("--client-id", default="loadgen")
    ap.add_argument("--count", type=int, default=0)
    ap.add_argument("--topic", default="pm/+/rec")
    a = ap.parse_args()
    (pub if a.mode == "pub" else sub)(a)


if __name__ == "__main__":
    main()

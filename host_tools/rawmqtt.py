"""MQTT 3.1.1 packets encoded and decoded by hand, for load generators that must cost next to
nothing per message (tests/bench/loadgen.py, host_tools/fleetsim.py): a paho publisher
would be the bottleneck, not the broker or gateway under test. Only what they send and
receive: CONNECT, PUBLISH (QoS 0/1), SUBSCRIBE, DISCONNECT out; CONNACK, PUBACK, SUBACK,
PUBLISH in. Not a client for anything else.
"""
import struct

CONNACK, PUBLISH, PUBACK, SUBACK = 0x20, 0x30, 0x40, 0x90
DISCONNECT = b"\xe0\x00"


def string(b):
    """A length-prefixed MQTT string (bytes in)."""
    return struct.pack(">H", len(b)) + b


def packet(first, body):
    """Fixed header (packet type and flags in `first`, remaining-length varint) + body."""
    n, rl = len(body), bytearray()
    while True:
        d, n = n % 128, n // 128
        rl.append(d | (128 if n else 0))
        if not n:
            return bytes([first]) + bytes(rl) + body


def connect(client_id, user, password, keepalive=0):
    """CONNECT with a clean session, username and password."""
    return packet(0x10, string(b"MQTT") + bytes([4, 0xC2]) + struct.pack(">H", keepalive) +
                  string(client_id.encode()) + string(user.encode()) +
                  string(password.encode()))


def publish_qos1(topic, payload, mid, retain=False):
    """PUBLISH at QoS 1 with packet id `mid` (1..65535)."""
    return packet(0x33 if retain else 0x32, string(topic.encode()) + struct.pack(">H", mid) +
                  payload)


def subscribe(mid, topic, qos=0):
    return packet(0x82, struct.pack(">H", mid) + string(topic.encode()) + bytes([qos]))


def check_connack(data):
    """Raise unless `data` (the first 4 bytes read) is a CONNACK that accepts."""
    if len(data) != 4 or data[0] != CONNACK or data[3] != 0:
        raise ConnectionError("CONNACK refused: %r" % (data,))


class Reader:
    """Splits the bytes a broker sends into packets: feed() what recv() returned, then
    iterate packets() for (type, flags, body) until it has no complete one left."""

    def __init__(self):
        self.buf = bytearray()

    def feed(self, data):
        self.buf += data

    def packets(self):
        buf, pos, out = self.buf, 0, []
        while True:
            k, n, mult = pos + 1, 0, 1          # remaining length: a varint after the type
            while k < len(buf) and buf[k] & 128:
                n += (buf[k] & 127) * mult
                mult *= 128
                k += 1
            if k >= len(buf):
                break
            n += buf[k] * mult
            k += 1
            if k + n > len(buf):
                break                           # the body is not complete yet
            out.append((buf[pos] & 0xF0, buf[pos] & 0x0F, bytes(buf[k:k + n])))
            pos = k + n
        del buf[:pos]
        return out


def parse_publish(flags, body):
    """(topic, payload, packet id or None) of an incoming PUBLISH body."""
    n = struct.unpack_from(">H", body)[0]
    mid = struct.unpack_from(">H", body, 2 + n)[0] if flags & 0x06 else None
    return body[2:2 + n].decode(), body[2 + n + (2 if mid is not None else 0):], mid


def puback(mid):
    return packet(PUBACK, struct.pack(">H", mid))

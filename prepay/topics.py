# The part of the MQTT contract (prepay/protocol.py, docs/protocol.md) that every message
# needs: the topic tree, QoS and retained flags, the payload version, the rec batch header
# and a strict parse of the one command that arrives per batch (ack). The meter keeps only
# this module resident; prepay/protocol.py (schemas and the checker) re-exports it and is
# loaded on the meter just to validate a command, then forgotten.
import json
import struct

try:
    from micropython import const
except ImportError:
    def const(x):
        return x


VER = const(1)            # payload schema version (JSON "ver", rec header byte 0)
ONLINE = b"Online"        # LWT payloads (retained), Tasmota's convention
OFFLINE = b"Offline"

# meter -> gateway leaves: (QoS, retained)
LWT = "LWT"
INFO = "info"
TELE = "tele"
REC = "rec"
EVT = "evt"
TREQ = "treq"
RES = "res"
UP = {LWT: (1, True), INFO: (1, True), TELE: (0, False), REC: (1, False), EVT: (1, False),
      TREQ: (0, False), RES: (1, False)}
# gateway -> meter commands are published on <prefix>/<meter>/cmd/<kind> (the kinds and
# their flags: protocol.DOWN)
CMD = "cmd"
ACK = "ack"

# rec batch header
REC_HDR = const(4)
REC_FMT = "<BBH"
R_REPLAY = const(0x01)    # header flag: backlog replay (not live)
REC_MAX = const(255)      # records per batch message
JSON_MAX = const(2048)    # largest JSON payload accepted either way


def rec_header(buf, count, flags=0):
    struct.pack_into(REC_FMT, buf, 0, VER, flags, count)


def scalar(v):
    """A JSON scalar (the type code "a" of the schemas: event data)."""
    return v is None or isinstance(v, (int, float, str, bool))


def dumps(fields):
    """JSON bytes of a message's fields with "ver" stamped (the fields dict gains "ver").
    Unchecked: protocol.encode checks, and the gateway validates everything it receives."""
    fields["ver"] = VER
    return json.dumps(fields).encode()


def ack_seq(payload):
    """The seq of a valid cmd/ack payload, else None. Accepts exactly what
    protocol.decode(ACK, payload) accepts (tests/prepay/test_protocol.py checks)."""
    if len(payload) > JSON_MAX:
        return None
    try:
        d = json.loads(payload)
    except (ValueError, UnicodeError):
        return None
    if type(d) is dict and len(d) == 2 and d.get("ver") == VER:
        s = d.get("seq")
        if type(s) is int:
            return s
    return None

# The MQTT contract between meter (device/sync) and gateway (gateway/ingest): topic tree,
# QoS and retained flags, payload schemas and versions, in ONE place that runs on
# MicroPython and CPython. docs/protocol.md documents every name here (a test checks it).
#
#   <prefix>/<meter>/<leaf>        meter -> gateway   (LWT info tele rec evt treq res)
#   <prefix>/<meter>/cmd/<kind>    gateway -> meter   (ack replay time token relay config)
#
# Record batches ("rec") are binary: a 4-byte header (ver u8, flags u8, count u16 LE) then
# count 36-byte prepay.record records, oldest first. Everything else is JSON with "ver".
import json
import struct

try:
    from micropython import const
except ImportError:
    def const(x):
        return x

from prepay import record

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
# gateway -> meter commands, published on <prefix>/<meter>/cmd/<kind>: (QoS, retained)
CMD = "cmd"
ACK = "ack"
REPLAY = "replay"
TIME = "time"
TOKEN = "token"
RELAY = "relay"
CONFIG = "config"
DOWN = {ACK: (1, True), REPLAY: (1, False), TIME: (1, False), TOKEN: (1, False),
        RELAY: (1, False), CONFIG: (1, False)}

# rec batch header
REC_HDR = const(4)
REC_FMT = "<BBH"
R_REPLAY = const(0x01)    # header flag: backlog replay (not live)
REC_MAX = const(255)      # records per batch message
JSON_MAX = const(2048)    # largest JSON payload accepted either way

# Every event kind emitted anywhere in device code (tests grep `.emit(` to check).
EVENT_KINDS = ("boot", "anomaly", "task_restart", "journal_gap", "time_sync", "config_update",
               "cmd_rejected", "relay", "low_credit", "token_accepted", "token_rejected",
               "power_limit", "tamper", "emergency", "friendly")
RELAY_ACTIONS = ("open", "close", "auto", "confirm")

# JSON schemas: field -> type code. i int, n number, s str, b bool, d dict, a scalar (any
# of i n s b or null). Required fields first tuple, optional second. Unknown keys are errors.
_S = {
    INFO: ({"fw": "s", "board": "s", "source": "s", "interval_s": "i", "boot": "i",
            "rtc": "b", "t": "i"}, {"ip": "s", "errors": "i"}),
    TELE: ({"t": "i", "wh": "i", "p": "n", "v": "n", "i": "n", "pf": "n", "hz": "n",
            "status": "s", "relay": "b", "credit": "i", "seq": "i", "ack": "i", "backlog": "i"},
           {"flags": "i", "rssi": "i", "reconnects": "i", "stall_ms": "i", "lag_ms": "i",
            "missed": "i", "ev_drops": "i", "cmd_drops": "i", "gaps": "i", "dropped": "i",
            "corrupt": "i", "rtc": "b", "rewinds": "i"}),
    EVT: ({"seq": "i", "t": "i", "kind": "s"}, None),  # None: any other scalar keys allowed
    TREQ: ({"id": "i", "t": "i", "rtc": "b"}, {}),
    RES: ({"id": "s", "cmd": "s", "ok": "b"}, {"error": "s", "restart": "b", "credit": "i"}),
    ACK: ({"seq": "i"}, {}),
    REPLAY: ({"from": "i", "to": "i"}, {}),
    TIME: ({"t": "i"}, {"id": "i"}),
    TOKEN: ({"id": "s", "code": "s"}, {}),
    RELAY: ({"id": "s", "action": "s"}, {}),
    CONFIG: ({"id": "s", "set": "d"}, {"restart": "b"}),
}
# config keys a command may never change: the token secret (a compromised channel must
# not mint credit), identity and credentials, the admin PIN.
CONFIG_LOCKED = ("meter.id", "token.", "mqtt.user", "mqtt.password", "web.pin_")


class ProtocolError(ValueError):
    """A payload or topic that breaks the contract; str(e) is the dead-letter reason."""


def topic(prefix, meter, leaf):
    return "%s/%s/%s" % (prefix, meter, leaf)


def cmd_topic(prefix, meter, kind):
    return "%s/%s/%s/%s" % (prefix, meter, CMD, kind)


def parse_topic(prefix, t):
    """(meter, leaf) for <prefix>/<meter>/<leaf>, (meter, "cmd/<kind>") for commands."""
    if isinstance(t, (bytes, bytearray)):
        t = t.decode()
    parts = t.split("/")
    if len(parts) < 3 or parts[0] != prefix:
        raise ProtocolError("topic not under %s/<meter>/" % prefix)
    meter = parts[1]
    if not valid_id(meter):
        raise ProtocolError("bad meter id in topic")
    if len(parts) == 3 and parts[2] in UP:
        return meter, parts[2]
    if len(parts) == 4 and parts[2] == CMD and parts[3] in DOWN:
        return meter, CMD + "/" + parts[3]
    raise ProtocolError("unknown topic leaf")


def valid_id(meter):
    if not 0 < len(meter) <= 32:
        return False
    for c in meter:
        if not ("a" <= c <= "z" or "0" <= c <= "9" or c == "-"):
            return False
    return True


# ---- record batches -------------------------------------------------------------------
def rec_header(buf, count, flags=0):
    struct.pack_into(REC_FMT, buf, 0, VER, flags, count)


def decode_batch(payload):
    """(flags, [record FIELDS tuples]) of a rec payload; ProtocolError says what is wrong.
    Seqs must strictly increase within a batch; every record's CRC must match."""
    n = len(payload)
    if n < REC_HDR:
        raise ProtocolError("rec: shorter than header")
    ver, flags, count = struct.unpack_from(REC_FMT, payload, 0)
    if ver != VER:
        raise ProtocolError("rec: unsupported version %d" % ver)
    if count == 0 or count > REC_MAX:
        raise ProtocolError("rec: bad count %d" % count)
    if n != REC_HDR + count * record.SIZE:
        raise ProtocolError("rec: length %d does not match count %d" % (n, count))
    out = []
    last = -1
    for k in range(count):
        r = record.unpack(payload, REC_HDR + k * record.SIZE)
        if r is None:
            raise ProtocolError("rec: record %d bad CRC" % k)
        if r[0] <= last:
            raise ProtocolError("rec: seq not increasing at record %d" % k)
        if r[0] == 0:
            raise ProtocolError("rec: seq 0 is invalid")
        if r[9] & record.F_GAP and not 0 < r[2] < r[0]:
            raise ProtocolError("rec: gap marker range invalid")
        last = r[0]
        out.append(r)
    return flags, out


def gap_range(r):
    """(lo, hi) of seqs a gap marker record declares dropped, else None."""
    if r[9] & record.F_GAP:
        return r[2], r[0] - 1
    return None


# ---- JSON messages ----------------------------------------------------------------------
def _ok(v, code):
    if code == "i":
        return isinstance(v, int) and not isinstance(v, bool)
    if code == "n":
        return isinstance(v, (int, float)) and not isinstance(v, bool)
    if code == "s":
        return isinstance(v, str)
    if code == "b":
        return isinstance(v, bool)
    if code == "d":
        return isinstance(v, dict)
    return v is None or isinstance(v, (int, float, str, bool))  # "a"


def check(kind, doc):
    """Validate a decoded JSON message of `kind` (a leaf or command name); returns doc."""
    sch = _S.get(kind)
    if sch is None:
        raise ProtocolError("no schema for %s" % kind)
    if not isinstance(doc, dict):
        raise ProtocolError("%s: not a JSON object" % kind)
    if doc.get("ver") != VER:
        raise ProtocolError("%s: unsupported or missing ver" % kind)
    req, opt = sch
    for k, code in req.items():
        if k not in doc:
            raise ProtocolError("%s: missing %s" % (kind, k))
        if not _ok(doc[k], code):
            raise ProtocolError("%s: %s has wrong type" % (kind, k))
    for k, v in doc.items():
        if k == "ver" or k in req:
            continue
        if opt is None:
            if not _ok(v, "a"):
                raise ProtocolError("%s: %s must be a scalar" % (kind, k))
        elif k not in opt:
            raise ProtocolError("%s: unknown key %s" % (kind, k))
        elif not _ok(v, opt[k]):
            raise ProtocolError("%s: %s has wrong type" % (kind, k))
    if kind == EVT and doc["kind"] not in EVENT_KINDS:
        raise ProtocolError("evt: unknown event kind %s" % doc["kind"][:32])
    if kind == RELAY and doc["action"] not in RELAY_ACTIONS:
        raise ProtocolError("relay: unknown action")
    if kind == REPLAY and not 0 < doc["from"] <= doc["to"]:
        raise ProtocolError("replay: bad range")
    if kind == TOKEN and not (doc["code"].isdigit() and 9 <= len(doc["code"]) <= 15):
        raise ProtocolError("token: code must be 9-15 digits")
    return doc


def decode(kind, payload):
    """Parse and validate a JSON payload (bytes) of `kind`."""
    if len(payload) > JSON_MAX:
        raise ProtocolError("%s: payload too large" % kind)
    try:
        doc = json.loads(payload)
    except (ValueError, UnicodeError):
        raise ProtocolError("%s: not valid JSON" % kind)
    return check(kind, doc)


def encode(_kind, **fields):
    """JSON bytes for message kind `_kind` with the version stamped (validated: producers
    obey the contract too). Fields may include "kind" (events)."""
    fields["ver"] = VER
    check(_kind, fields)
    return json.dumps(fields).encode()


def config_locked(key):
    for p in CONFIG_LOCKED:
        if key == p or (p.endswith(".") or p.endswith("_")) and key.startswith(p):
            return True
    return False

# The MQTT contract between meter (device/sync) and gateway (gateway/ingest): topic tree,
# QoS and retained flags, payload schemas and versions, in ONE place that runs on
# MicroPython and CPython. docs/protocol.md documents every name here (a test checks it).
#
#   <prefix>/<meter>/<leaf>        meter -> gateway   (LWT info tele rec evt treq res)
#   <prefix>/<meter>/cmd/<kind>    gateway -> meter   (ack replay time token relay config)
#
# Record batches ("rec") are binary: a 4-byte header (ver u8, flags u8, count u16 LE) then
# count 36-byte prepay.record records, oldest first. Everything else is JSON with "ver".
# The receiving side's topic parser and batch decoder are in prepay/wire.py (the meter never
# needs them, so they stay out of its RAM). What every message needs (topics, QoS, "ver",
# the rec header, the ack parse) is defined in prepay/topics.py and re-exported here: the
# meter keeps only that resident and loads this module to validate a command.
import json

from prepay import record
from prepay.topics import (VER, ONLINE, OFFLINE, LWT, INFO, TELE, REC, EVT, TREQ, RES, UP,
                           CMD, ACK, REC_HDR, REC_FMT, R_REPLAY, REC_MAX, JSON_MAX, rec_header,
                           scalar, dumps)

# The largest payload either side sends, and the largest MQTT packet carrying it: a full rec
# batch (REC_HDR + REC_MAX records: 9,184 bytes) is bigger than any JSON message (JSON_MAX)
# and than the gateway's Home Assistant discovery configs. The broker refuses anything
# larger (host_tools/broker.py: message_size_limit, max_packet_size), so no client can make
# the gateway buffer or dead-letter megabytes. The packet adds the fixed header (5), topic
# (2 + at most 500: prefix, meter id, leaf) and packet id (2).
PAYLOAD_MAX = max(REC_HDR + REC_MAX * record.SIZE, JSON_MAX)
PACKET_MAX = PAYLOAD_MAX + 5 + 2 + 500 + 2

# gateway -> meter commands, published on <prefix>/<meter>/cmd/<kind>: (QoS, retained)
REPLAY = "replay"
TIME = "time"
TOKEN = "token"
RELAY = "relay"
CONFIG = "config"
DOWN = {ACK: (1, True), REPLAY: (1, False), TIME: (1, False), TOKEN: (1, False),
        RELAY: (1, False), CONFIG: (1, False)}

# Every event kind emitted anywhere in device code (tests grep `.emit(` to check).
EVENT_KINDS = ("boot", "anomaly", "task_restart", "journal_gap", "time_sync", "config_update",
               "cmd_rejected", "relay", "low_credit", "token", "power_limit", "emergency",
               "restore", "state_corrupt", "settings", "manual", "pin_rejected", "web_off",
               "config_fallback", "config_error", "pq")
RELAY_ACTIONS = ("open", "close", "auto", "confirm")

# JSON schemas, kept as compact strings (a dict per schema would cost kilobytes of meter
# RAM): "name:type ..." required, then "|" and the optional ones; "|*" allows any other
# scalar keys (event data). Types: i int, n number, s str, b bool, d object, a scalar,
# t the token replay state [last, used]: two non-negative ints.
_S = {
    INFO: "fw:s board:s source:s interval_s:i boot:i rtc:b t:i|ip:s errors:i tok:t",
    TELE: "t:i wh:i p:n v:n i:n pf:n hz:n status:s relay:b credit:i seq:i ack:i backlog:i"
          "|flags:i rssi:i reconnects:i stall_ms:i lag_ms:i missed:i ev_drops:i cmd_drops:i"
          " cmd_busy:i gaps:i dropped:i corrupt:i rtc:b rewinds:i tls_fails:i errors:i tok:t"
          " net:s net_tries:i net_drops:i clock:s pq:d days_left:i days_h:i",
    EVT: "seq:i t:i kind:s|*",
    TREQ: "id:i t:i rtc:b|",
    RES: "id:s cmd:s ok:b|error:s restart:b credit:i",
    ACK: "seq:i|",
    REPLAY: "from:i to:i|",
    TIME: "t:i|id:i",
    TOKEN: "id:s code:s|",
    RELAY: "id:s action:s|",
    CONFIG: "id:s set:d|restart:b",
}


def schema(kind):
    """(required {name: type}, optional {name: type} or None for any scalar) of a JSON kind."""
    spec = _S.get(kind)
    if spec is None:
        raise ProtocolError("no schema for %s" % kind)
    req, _, opt = spec.partition("|")
    r = {}
    for f in req.split():
        k, _, c = f.partition(":")
        r[k] = c
    if opt == "*":
        return r, None
    o = {}
    for f in opt.split():
        k, _, c = f.partition(":")
        o[k] = c
    return r, o


class ProtocolError(ValueError):
    """A payload or topic that breaks the contract; str(e) is the dead-letter reason."""


def topic(prefix, meter, leaf):
    return "%s/%s/%s" % (prefix, meter, leaf)


def cmd_topic(prefix, meter, kind):
    return "%s/%s/%s/%s" % (prefix, meter, CMD, kind)


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
    if code == "t":
        return isinstance(v, list) and len(v) == 2 and all(
            _ok(x, "i") and x >= 0 for x in v)
    return scalar(v)  # "a"


def check(kind, doc):
    """Validate a decoded JSON message of `kind` (a leaf or command name); returns doc."""
    req, opt = schema(kind)
    if not isinstance(doc, dict):
        raise ProtocolError("%s: not a JSON object" % kind)
    if doc.get("ver") != VER:
        raise ProtocolError("%s: unsupported or missing ver" % kind)
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
    return dumps(fields)

# Commands from the gateway (docs/protocol.md): ack, replay, time, token, relay, config.
# Loaded per command and unloaded after (sync/mqtt.py applies valid acks itself, without
# this module). Each is validated with prepay.protocol first; a bad one is counted, emitted as
# `cmd_rejected` and, if it carried an id, answered with res ok=false. The credit policy
# has the last word on tokens (self-authenticating OpenPAYGO codes: the channel cannot mint
# credit) and relay requests; config updates go through config.change (prepay.settings.apply,
# the one check every path uses) before they are written. Commands with an id are
# idempotent: the answers to the last ids are kept (Sync._done) and a duplicate id is
# answered with its answer, never applied again. This module decides and applies through
# the handler (device/remote.py); Sync updates its own state from what handle() returns.
import json

from lazy import forget
from prepay import protocol as P


def handle(kind, msg, remote, done, treq, board):
    """Decode and apply one command; `done` holds the (id, answer) of the last commands
    applied, `treq` the (id, meter ticks) of the latest time request. Then drop the modules
    it loaded: the schema checker (config updates unload what they load). -> what Sync is
    to do: ("ack", seq), ("replay", from seq), ("time", 1 if the clock was set else 0),
    ("dup", answer), ("reject", (error, answer or None)) or ("res", (id, answer, ok, restart))."""
    try:
        return _handle(kind, msg, remote, done, treq, board)
    finally:
        forget("prepay.protocol")


def _handle(kind, msg, remote, done, treq, board):
    try:
        if kind not in P.DOWN:
            raise P.ProtocolError("unknown command %s" % kind[:16])
        d = P.decode(kind, msg)
    except P.ProtocolError as e:
        why, cid = str(e), _id_of(msg)
        out = None
        if cid:
            out = P.encode(P.RES, id=cid[:32], cmd=kind[:16], ok=False, error=why[:80])
        return "reject", (why, out)
    if kind == P.ACK:
        return "ack", d["seq"]
    if kind == P.REPLAY:
        return "replay", d["from"]
    if kind == P.TIME:
        return "time", set_time(remote.clock, board, d, treq)
    cid = d["id"]
    for got in done:
        if got[0] == cid:      # a re-send (gateway timeout, reconnect): answer, never re-apply
            return "dup", got[1]
    res = {"id": cid, "cmd": kind}
    restart = False
    cr = remote.credit
    if kind != P.CONFIG and not cr:
        res["ok"] = False      # config-error state: no credit logic runs, the relay stays open
        res["error"] = "config_error"
    elif kind == P.TOKEN:
        r = cr.enter_token(d["code"], True)
        res["ok"] = r["result"] == "accepted"
        if not res["ok"]:
            res["error"] = r["result"]
        res["credit"] = cr.balance()
    elif kind == P.RELAY:
        a = d["action"]
        r = cr.confirm_reconnect() if a == "confirm" else cr.set_manual(a)
        res["ok"] = bool(r.get("ok"))
        if not res["ok"]:
            res["error"] = r.get("message", "refused")[:80]
    else:  # CONFIG
        err, keys = config_update(board.root, d["set"])
        res["ok"] = not err
        if err:
            res["error"] = err[:200]
        else:
            res["restart"] = True
            remote.events.emit("config_update", keys=keys[:120])
            restart = bool(d.get("restart"))
    return "res", (cid, P.encode(P.RES, **res), res["ok"], restart)


def set_time(clock, board, d, treq):
    """The gateway's time: the fallback when NTP has not set the clock (device/clock.py).
    -> 1 if the clock was set, else 0."""
    if clock.source == "ntp":
        return 0
    t = d["t"]
    rid, sent = treq
    if d.get("id") == rid:   # add half the round trip (meter ms)
        t += board.ticks_diff(board.ticks_ms(), sent) // 2000
    return 1 if clock.set(t, "gateway") else 0


def config_update(root, upd):
    """Apply a nested partial config to <root>/config.json as the MQTT channel
    (config.change: the one apply() every path uses; nothing is written unless every key
    may be changed over MQTT and the whole result validates). -> (error or "", changed keys)."""
    import config
    from prepay.settings import MQTT, keys_of
    try:
        errs = config.change(root, upd, MQTT)
        return ("; ".join(errs), "") if errs else ("", ",".join(keys_of(upd)))
    finally:
        config.unload()


def _id_of(msg):
    """Best-effort id of an invalid command, so the rejection can be answered."""
    try:
        d = json.loads(msg)
    except ValueError:
        return None
    i = d.get("id") if isinstance(d, dict) else None
    return i if isinstance(i, str) and i else None

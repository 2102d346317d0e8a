# Commands from the gateway (docs/protocol.md): ack, replay, time, token, relay, config.
# Loaded per command and unloaded after (sync/mqtt.py applies valid acks itself, without
# this module). Each is validated with prepay.protocol first; a bad one is counted, emitted as
# `cmd_rejected` and, if it carried an id, answered with res ok=false. The credit policy
# has the last word on tokens (self-authenticating OpenPAYGO codes: the channel cannot mint
# credit) and relay requests; config updates are validated whole before they are written.
import json
import os

from micropython import const

from lazy import forget
from prepay import protocol as P

_RELAY = {"open": False, "close": True, "auto": None}
_TIME_SLACK = const(10)   # s: a synced clock is only corrected beyond this


def handle(s, kind, msg):
    """Apply one command for Sync `s` (outside umqtt's callback: it may publish), then drop
    the modules it loaded: the schema checker, and config/settings for config updates."""
    try:
        _handle(s, kind, msg)
    finally:
        for name in ("prepay.protocol", "config", "settings"):
            forget(name)


def _handle(s, kind, msg):
    s.cmds += 1
    try:
        if kind not in P.DOWN:
            raise P.ProtocolError("unknown command %s" % kind[:16])
        d = P.decode(kind, msg)
    except P.ProtocolError as e:
        reject(s, kind, str(e), _id_of(msg))
        return
    m = s.m
    if kind == P.ACK:
        s._ack(d["seq"])
        return
    if kind == P.REPLAY:
        s.replays += 1
        s.cursor = max(min(s.cursor, d["from"]), m.journal.ack_seq + 1)
        s._idle_at = -1
        return
    if kind == P.TIME:
        set_time(s, d)
        return
    res = {"id": d["id"], "cmd": kind}
    cr = m.credit
    if kind == P.TOKEN:
        r = cr.enter_token(d["code"])
        res["ok"] = r["result"] == "accepted"
        if not res["ok"]:
            res["error"] = r["result"]
        res["credit"] = cr.balance()
    elif kind == P.RELAY:
        a = d["action"]
        r = cr.confirm_reconnect() if a == "confirm" else cr.set_manual(_RELAY[a])
        res["ok"] = bool(r.get("ok"))
        if not res["ok"]:
            res["error"] = r.get("message", "refused")[:80]
    else:  # CONFIG
        err, keys = config_update(s.b.root, d["set"])
        res["ok"] = not err
        if err:
            res["error"] = err[:200]
        else:
            res["restart"] = True
            m.events.emit("config_update", keys=keys[:120])
            s._reset = bool(d.get("restart"))
    if not res["ok"]:
        s.cmd_rejected += 1
    s._publish(P.RES, P.encode(P.RES, **res))


def set_time(s, d):
    b = s.b
    t = d["t"]
    rid, sent = s._treq
    if d.get("id") == rid:   # add half the round trip (meter ms)
        t += b.ticks_diff(b.ticks_ms(), sent) // 2000
    old = b.time()
    if not b.rtc_valid() or abs(t - old) > _TIME_SLACK:
        b.set_time(t)
        s.time_syncs += 1
        s.m.events.emit("time_sync", old=old, new=t)


def reject(s, kind, why, cid):
    s.cmd_rejected += 1
    s.m.events.emit("cmd_rejected", cmd=kind[:16], error=why[:60])
    if cid and s.c:
        s._publish(P.RES, P.encode(P.RES, id=cid[:32], cmd=kind[:16], ok=False, error=why[:80]))


def config_update(root, upd):
    """Merge a nested partial config into <root>/config.json if the whole validates.
    -> (error or "", changed keys)."""
    import config
    keys = []
    for sec, body in upd.items():
        for k in (body if isinstance(body, dict) and sec != "tariff" else ("",)):
            key = sec + "." + k if k else sec
            if P.config_locked(key):
                return "%s: cannot be changed over MQTT" % key, ""
            keys.append(key)
    if not keys:
        return "nothing to change", ""
    path = root + "/config.json"
    try:
        with open(path) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return "config.json unreadable", ""
    for sec, body in upd.items():
        if isinstance(body, dict) and sec != "tariff" and isinstance(doc.get(sec), dict):
            doc[sec].update(body)
        else:
            doc[sec] = body
    errs = config.validate(doc)[1]
    if errs:
        return "; ".join(errs), ""
    try:
        with open(path + ".tmp", "w") as f:
            json.dump(doc, f)
        os.rename(path + ".tmp", path)
    except OSError as e:
        return "write failed: %r" % e, ""
    return "", ",".join(keys)


def _id_of(msg):
    """Best-effort id of an invalid command, so the rejection can be answered."""
    try:
        d = json.loads(msg)
    except ValueError:
        return None
    i = d.get("id") if isinstance(d, dict) else None
    return i if isinstance(i, str) and i else None

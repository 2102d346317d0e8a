# Admin settings behind the PIN: what the owner may view and change from the page. A change
# is merged into config.json, checked by config.validate, the credit module's checks and the
# ranges below, and only then written, atomically (temp file + rename), so a bad value
# changes nothing. Saved
# settings apply at the next restart (POST /api/admin/restart); the PIN applies at once.
# Secrets are write-only: the API says whether they are set, never what they are.
import asyncio
import binascii
import json
import os

from lazy import forget
from web import pin as pinmod
from web.api import body
from web.app import out
from web.httpd import Bad, error

# editable key -> (min, max) for numbers, max length for strings
EDIT = {
    "power.limit_w": (0, 100000), "power.hold_s": (1, 3600), "power.retry_s": (5, 86400),
    "power.retries": (0, 100), "measure.max_power_w": (100, 100000),
    "analog.vcal": (0, 10), "analog.ical": (0, 10), "analog.phasecal": (-10, 10),
    "wifi.ssid": 32, "wifi.password": 64,
    "mqtt.host": 64, "mqtt.port": (1, 65535), "mqtt.user": 32, "mqtt.password": 64,
    "mqtt.prefix": 16, "mqtt.tele_s": (1, 3600),
}
SECRET = ("wifi.password", "mqtt.password", "token.key", "web.pin_hash", "web.pin_salt")
VIEW = ("meter.id", "meter.currency", "meter.minor_per_major", "meter.utc_offset_min",
        "credit.reconnect_min", "credit.reconnect_confirm", "credit.emergency",
        "credit.low_warn", "credit.low_days", "credit.debt_recovery_pct", "credit.friendly",
        "token.unit_minor", "token.digits")


def _path(m):
    return m.board.root + "/config.json"


def read_doc(m):
    try:
        with open(_path(m)) as f:
            d = json.load(f)
        return d if isinstance(d, dict) else {}
    except (OSError, ValueError):
        return {}


def _validate(doc):
    # config (and its settings table, ~10 KB) is loaded only by the requests that read or
    # write settings, not by login, relay or restart, and dropped again after
    import config
    try:
        return config.validate(doc)
    finally:
        forget("config")
        forget("settings")


def settings(m):
    cfg, _ = _validate(read_doc(m))  # what is on flash now (applies at restart)
    out = {"edit": {}, "view": {}, "secrets": {}, "tariff": cfg["tariff"],
           "relay": {"closed": m.board.relay_closed(),
                     "manual": getattr(m.credit, "manual", None) if m.credit else None},
           "restart_needed": _pending(m, cfg)}
    for k in EDIT:
        if k in SECRET:
            out["secrets"][k] = bool(cfg[k])
        else:
            out["edit"][k] = cfg[k]
    for k in VIEW:
        out["view"][k] = cfg[k]
    return out


def _pending(m, cfg):
    for k in EDIT:
        if cfg[k] != m.cfg[k]:
            return True
    return False


def _range(k, v):
    rule = EDIT[k]
    if isinstance(rule, tuple):
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            return "%s: must be a number" % k
        if not rule[0] <= v <= rule[1]:
            return "%s: must be between %s and %s" % (k, rule[0], rule[1])
    elif len(v) > rule:
        return "%s: at most %d characters" % (k, rule)
    elif k == "mqtt.prefix" and (not v or "/" in v or "#" in v or "+" in v):
        return "mqtt.prefix: 1-16 characters without / # +"
    elif k == "wifi.password" and v and len(v) < 8:
        return "wifi.password: 8 to 64 characters (or empty for an open network)"
    return None


def write(m, changes, check=True):
    """Merge {"section.key": value} into config.json. -> list of errors ([] = saved)."""
    if not isinstance(changes, dict) or not changes:
        return ["nothing to change"]
    doc = read_doc(m)
    errors = []
    for k in changes:
        if check and k not in EDIT:
            errors.append("%s: cannot be changed here" % k)
            continue
        sec, _, name = k.partition(".")
        body = doc.get(sec)
        if not isinstance(body, dict):
            body = doc[sec] = {}
        body[name] = changes[k]
    if errors:
        return errors
    cfg, errors = _validate(doc)
    if errors:
        return errors
    from credit.conf import Conf  # the credit module's own range and structure checks
    errors = Conf(cfg).errors
    forget("credit.conf")         # admin-only here: not kept resident after the request
    forget("prepay.tariff_parse")
    if errors:
        return errors
    if check:
        for k in changes:
            e = _range(k, changes[k])
            if e:
                errors.append(e)
        if errors:
            return errors
    tmp = _path(m) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(doc, f)
    os.rename(tmp, _path(m))
    return []


def save(m, d):
    errors = write(m, d.get("settings"))
    if errors:
        return {"ok": False, "errors": errors, "message": "Not saved: " + "; ".join(errors)}, 400
    m.events.emit("settings", keys=",".join(sorted(d["settings"])))
    return {"ok": True, "message": "Saved. Restart the meter to apply.", "restart_needed": True}, 200


def set_pin(m, gate, d):
    p = d.get("pin")
    if not pinmod.valid(p):
        return {"ok": False, "message": "The PIN must be 4 to 8 digits."}, 400
    salt = binascii.hexlify(os.urandom(8)).decode()
    errors = write(m, {"web.pin_hash": pinmod.digest(salt, p), "web.pin_salt": salt}, False)
    if errors:
        return {"ok": False, "message": "Not saved: " + "; ".join(errors)}, 400
    gate.use(pinmod.digest(salt, p), salt)
    m.events.emit("settings", keys="web.pin")
    return {"ok": True, "message": "PIN changed."}, 200


def relay(m, d):
    """Owner's relay override: "on", "off" or "auto"; the credit policy has the last word."""
    state = {"on": True, "off": False, "auto": None}
    s = d.get("state")
    if s not in state:
        raise Bad(400, 'state must be "on", "off" or "auto"')
    if not m.credit:
        raise Bad(409, "meter not configured")
    r = m.credit.set_manual(state[s])
    if isinstance(r, dict) and not r.get("ok", True):
        return {"ok": False, "message": r.get("message") or "Not allowed by the policy."}, 409
    if r is False:
        return {"ok": False, "message": "Not allowed by the policy."}, 409
    m.events.emit("manual", state=s)
    return {"ok": True, "message": "Relay override: %s." % s}, 200


async def _reboot(m):
    await asyncio.sleep_ms(300)  # let the response reach the browser
    if m.credit and hasattr(m.credit, "save"):
        m.credit.save()
    m.board.reset()


def restart(m, d=None):
    asyncio.create_task(_reboot(m))
    return {"ok": True, "message": "Restarting: the page comes back in a few seconds."}, 200


def handle(m, gate, req, name):
    """/api/admin/<name>: login is open (and rate limited); the rest need the session."""
    if req.method == "POST":
        d = body(req)
        if name == "login":
            if not gate.enabled():
                return error(403, "admin is disabled: no PIN provisioned (web.pin_hash)")
            tok, lock = gate.login(d.get("pin"))
            if tok:
                return out({"ok": True, "session": tok})
            return out(({"ok": False, "locked_s": lock, "message": (
                "Wrong PIN. Locked: try again in %d s." % lock) if lock else "Wrong PIN."}, 403))
    if not gate.check(req):
        return error(401, "log in with the admin PIN first")
    if req.method == "GET":
        if name == "settings":
            return out(settings(m))
        raise Bad(404, "no such admin API")
    if name == "logout":
        gate.logout()
        return out({"ok": True})
    fn = {"settings": save, "relay": relay, "restart": restart}.get(name)
    if name == "pin":
        return out(set_pin(m, gate, d))
    if not fn:
        raise Bad(404, "no such admin API")
    return out(fn(m, d))

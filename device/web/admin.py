# Admin settings behind the PIN: what the owner may view and change from the page, as the
# settings table says (prepay/settings.py: "c" the consumer may change it, "v" shown
# read-only, "s" secret). A change goes through config.change (prepay.settings.apply: the
# same complete check as boot, MQTT and provisioning) and is written atomically only if the
# whole config validates, so a bad value changes nothing and can never put the meter into a
# config-error state. Saved settings apply at the next restart (POST /api/admin/restart);
# the PIN applies at once. Secrets are write-only: the API says whether they are set, never
# what they are. The answers are in the request's language (the catalogue's adm.* words;
# a refused setting's problems as the consumer's page says them: web.view.problems).
import asyncio
import binascii
import os

from web import pin as pinmod
from web.api import body, out
from web.httpd import Bad, error
from web.view import problems, words


def settings(m, lang):
    # config and the settings table are loaded only by the requests that read or write
    # settings, not by login, relay or restart, and dropped again after
    import config
    from prepay.settings import SETTINGS, problem, validate
    try:
        # on flash now (applies at restart); its problems (a bad tariff written to the
        # meter, say) refuse every save until fixed, so the owner sees them in the language
        cfg, errors = validate(config.read_doc(m.board.root), problem)
        res = {"edit": {}, "view": {}, "secrets": {}, "tariff": cfg["tariff"],
               "problems": problems(errors, lang),
               "relay": {"closed": m.board.relay_closed(),
                         "manual": getattr(m.credit, "manual", None) if m.credit else None},
               "restart_needed": False}
        for key, _, _, _, access in SETTINGS:
            if "c" in access:
                if cfg[key] != m.cfg[key]:
                    res["restart_needed"] = True
                if "s" in access:
                    res["secrets"][key] = bool(cfg[key])
                else:
                    res["edit"][key] = cfg[key]
            elif "v" in access:
                res["view"][key] = cfg[key]
        return res
    finally:
        config.unload()


def write(m, changes, who="c"):
    """Apply {"section.key": value} to config.json as `who` (prepay.settings: "c" the
    settings form, "p" the PIN form). -> list of problems ([] = saved; problem triples)."""
    if not isinstance(changes, dict):
        raise Bad(400, "settings must be an object")
    nested = {}
    for k in changes:
        sec, _, name = k.partition(".")
        if not name:
            nested[k] = changes[k]
            continue
        sec_body = nested.get(sec)
        if not isinstance(sec_body, dict):
            sec_body = nested[sec] = {}
        sec_body[name] = changes[k]
    import config
    from prepay.settings import problem
    try:
        return config.change(m.board.root, nested, who, problem)
    finally:
        config.unload()


def _refused(errors, lang):
    said = problems(errors, lang)
    msg = words(("adm.notsaved",), lang)["adm.notsaved"] % "; ".join(said)
    return {"ok": False, "errors": said, "message": msg}, 400


def save(m, d, lang):
    errors = write(m, d.get("settings"))
    if errors:
        return _refused(errors, lang)
    m.events.emit("settings", keys=",".join(sorted(d["settings"])))
    return {"ok": True, "message": words(("adm.saved",), lang)["adm.saved"],
            "restart_needed": True}, 200


def set_pin(m, gate, d, lang):
    p = d.get("pin")
    w = words(("adm.pinbad", "adm.pinok"), lang)
    if not pinmod.valid(p):
        return {"ok": False, "message": w["adm.pinbad"]}, 400
    salt = binascii.hexlify(os.urandom(8)).decode()
    errors = write(m, {"web.pin_hash": pinmod.digest(salt, p), "web.pin_salt": salt}, "p")
    if errors:
        return _refused(errors, lang)
    gate.use(pinmod.digest(salt, p), salt)
    m.events.emit("settings", keys="web.pin")
    return {"ok": True, "message": w["adm.pinok"]}, 200


def relay(m, d, lang):
    """Owner's relay override: "open", "close" or "auto" (the MQTT relay command's words);
    the credit policy has the last word."""
    s = d.get("state")
    if not m.credit:
        raise Bad(409, "meter not configured")
    r = m.credit.set_manual(s)
    if r.get("error") == "action":
        raise Bad(400, "state " + r["message"])
    if not r["ok"]:     # the one refusal: close without credit
        return {"ok": False, "message": words(("adm.nocredit",), lang)["adm.nocredit"]}, 409
    m.events.emit("manual", state=s)
    k = "adm.relay." + s
    return {"ok": True, "message": words((k,), lang)[k]}, 200


async def _reboot(m):
    await asyncio.sleep_ms(300)  # let the response reach the browser
    from reboot import reboot
    reboot(m)


def restart(m, d, lang):
    asyncio.create_task(_reboot(m))
    return {"ok": True, "message": words(("adm.restart",), lang)["adm.restart"]}, 200


def handle(m, gate, req, name, lang="en"):
    """/api/admin/<name>: login is open (and rate limited); the rest need the session."""
    if req.method == "POST":
        d = body(req)
        if name == "login":
            if not gate.enabled():
                return error(403, "admin is disabled: no PIN provisioned (web.pin_hash)")
            tok, lock = gate.login(d.get("pin"))
            if tok:
                return out({"ok": True, "session": tok})
            w = words(("adm.locked", "adm.wrong"), lang)
            return out(({"ok": False, "locked_s": lock, "message": (
                w["adm.locked"] % lock) if lock else w["adm.wrong"]}, 403))
    if not gate.check(req):
        return error(401, "log in with the admin PIN first")
    if req.method == "GET":
        if name == "settings":
            return out(settings(m, lang))
        raise Bad(404, "no such admin API")
    if name == "logout":
        gate.logout()
        return out({"ok": True})
    fn = {"settings": save, "relay": relay, "restart": restart}.get(name)
    if name == "pin":
        return out(set_pin(m, gate, d, lang))
    if not fn:
        raise Bad(404, "no such admin API")
    return out(fn(m, d, lang))

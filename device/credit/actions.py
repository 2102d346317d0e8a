# Consumer and owner actions on the credit state: token entry, emergency credit,
# reconnection confirmation, the owner's relay override. Loaded by Credit for each call
# and dropped afterwards (Credit._action: 2.8 KB of the loose 32-bit heap).
from credit.tokens import OK, INVALID, USED, ADD, SET, DISABLE
from credit.limiter import GAVE_UP

_LOCKED = "Too many wrong codes: code entry is locked for %d s."
_MSG = {
    "used": "This code has already been used.",
    "old": "This code is too old to use. Ask your vendor for a new one.",
    "invalid": "Invalid code. Check the digits and try again.",
    "nokey": "This meter has no token key yet, so it cannot accept codes.",
}


def _tok(result, amount, message, locked_s):
    return {"result": result, "amount": amount, "message": message, "locked_s": locked_s}


def enter_token(cr, code, remote=False):
    # The lockout guards the consumer's keypad: a code the utility delivers over MQTT
    # (remote) is never refused as locked, and a bad one is counted apart
    # (Gate.remote_rejected) rather than towards the consumer's lock.
    g = cr.gate
    left = 0 if remote else g.locked_s()
    if left:
        cr.events.emit("token", result="locked", locked_s=left)
        return _tok("locked", 0, _LOCKED % left, left)
    st, value, mode, count = g.enter(code, remote)
    if st == INVALID and remote:
        g.remote_rejected += 1
        cr.events.emit("token", result="invalid", remote=True)
        return _tok("invalid", 0, _MSG["invalid" if g.key else "nokey"], 0)
    if st == INVALID:
        lock = g.bad(cr.b.time())
        cr.save()                      # the fail count and lock survive a reboot
        cr.events.emit("token", result="invalid", locked_s=lock)
        msg = _MSG["invalid" if g.key else "nokey"]
        if lock:
            msg += " " + _LOCKED % lock
        return _tok("invalid", 0, msg, lock)
    if st != OK:
        res = "used" if st == USED else "old"
        cr.events.emit("token", result=res)
        return _tok(res, 0, _MSG[res], 0)
    # authentic and fresh (already in the replay memory): only now does it reach the money
    L = cr.L
    amount = value * cr.unit if mode in (ADD, SET) else 0
    if mode == ADD:
        e, d = L.topup(amount, cr.pct)
        msg = "Accepted: %s added." % cr.money(amount)
        if e:
            msg += " %s repaid emergency credit." % cr.money(e)
        if d:
            msg += " %s repaid debt." % cr.money(d)
    elif mode == SET:
        L.set_balance(amount)
        msg = "Accepted: credit set to %s." % cr.money(amount)
    elif mode == DISABLE:
        L.prepaid = False
        msg = "Accepted: prepayment is off; supply no longer depends on credit."
    else:
        msg = "Accepted: the meter's token counter is synchronised; no credit added."
    cr.save()                          # persisted (with the replay memory) before "accepted"
    cr.events.emit("token", result="accepted", amount=amount, mode=mode, count=count,
                   remote=remote)        # the page's top-up list says how each arrived
    return _tok("accepted", amount, msg, 0)


def activate_emergency(cr):
    # only the page asks for it, and words the outcome from its catalogue in the consumer's
    # language (web/actions.py: act.em_ok, act.<why>)
    if not cr.emergency_available():
        return {"ok": False, "why": "em_in_use" if cr.L.em_owed else
                "em_not_offered" if cr.em_amount <= 0 else "em_not_low"}
    cr.L.emergency(cr.em_amount)
    cr._consent = True                 # the consumer is here and asked for supply
    cr.save()
    cr.events.emit("emergency", amount=cr.em_amount)
    return {"ok": True, "amount": cr.em_amount}


def confirm_reconnect(cr):
    if not (cr._confirm or cr.lim.state == GAVE_UP):
        return {"ok": False, "why": "nothing", "message": "Nothing to confirm."}
    cr._confirm = False
    cr.lim.reset()
    cr.save()
    return {"ok": True, "message": "Reconnecting."}


# The one relay vocabulary (the MQTT relay command's, prepay.protocol.RELAY_ACTIONS, and the
# admin page's): open the relay (supply off), close it (supply on), or back to automatic.
MANUAL = {"open": False, "close": True, "auto": None}


def set_manual(cr, action):
    if type(action) is not str or action not in MANUAL:
        return {"ok": False, "error": "action", "message": 'must be "open", "close" or "auto"'}
    state = MANUAL[action]
    if state is True and cr._cut:
        return {"ok": False, "message": "No credit: supply stays off until a top-up."}
    cr.manual = state
    if state is True:
        cr._confirm = False
        cr.lim.reset()
    cr.save()
    return {"ok": True, "message": "Relay override: %s." % action}

# Consumer and owner actions on the credit state: token entry, emergency credit,
# reconnection confirmation, the owner's relay override. Loaded by Credit for each call
# and dropped afterwards (they are rare; their code need not stay in RAM).
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


def enter_token(cr, code):
    g = cr.gate
    left = g.locked_s()
    if left:
        cr.events.emit("token", result="locked", locked_s=left)
        return _tok("locked", 0, _LOCKED % left, left)
    st, value, mode, count = g.enter(code)
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
    cr.events.emit("token", result="accepted", amount=amount, mode=mode, count=count)
    return _tok("accepted", amount, msg, 0)


def activate_emergency(cr):
    if not cr.emergency_available():
        why = ("Emergency credit is already in use." if cr.L.em_owed else
               "Emergency credit is not offered on this meter." if cr.em_amount <= 0 else
               "Emergency credit is available only when credit is low.")
        return {"ok": False, "message": why}
    cr.L.emergency(cr.em_amount)
    cr._consent = True                 # the consumer is here and asked for supply
    cr.save()
    cr.events.emit("emergency", amount=cr.em_amount)
    return {"ok": True, "amount": cr.em_amount,
            "message": "Emergency credit of %s activated. It is repaid from your next top-up."
            % cr.money(cr.em_amount)}


def confirm_reconnect(cr):
    if not (cr._confirm or cr.lim.state == GAVE_UP):
        return {"ok": False, "message": "Nothing to confirm."}
    cr._confirm = False
    cr.lim.reset()
    cr.save()
    return {"ok": True, "message": "Reconnecting."}


def set_manual(cr, state):
    if state not in (None, True, False):
        return {"ok": False, "message": "state must be on, off or automatic"}
    if state is True and cr._cut:
        return {"ok": False, "message": "No credit: supply stays off until a top-up."}
    cr.manual = state
    if state is True:
        cr._confirm = False
        cr.lim.reset()
    cr.save()
    return {"ok": True, "message": "Relay override: %s." % (
        "automatic" if state is None else "on" if state else "off")}

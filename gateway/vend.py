"""Token vending: top-up codes made with the shared OpenPAYGO codec (prepay/opaygo.py).

Each meter's key, starting code and last vended count live in the secrets database. A top-up
of `amount` minor units becomes an ADD token of value amount / unit (the meter's
token_unit_minor attribute, default 100, as its token.unit_minor setting); Store.vend writes
the new count, the token and a transactions row in one transaction, so two concurrent
top-ups never reuse a count. The token is delivered to the meter over MQTT
(cmd/token, id "tx-<n>") when a deliverer is set; the meter's `res` answer marks the
transaction accepted or rejected (Store.command_result). The code also works typed in.
"""
from prepay import opaygo


class VendError(Exception):
    def __init__(self, status, message):
        super().__init__(message)
        self.status = status


def _codec(store, meter):
    sec = store.secret(meter["id"])
    if sec is None or not sec[0]:
        raise VendError(409, "meter %s has no token key registered" % meter["id"])
    digits = int(meter.get("token_digits", 9))
    return opaygo.Codec(sec[0], sec[1] or None, extended=digits > 9)


def topup(store, meter_id, amount, ref=None, deliver=None):
    """Vend one ADD token worth `amount` minor units -> the transaction as a dict."""
    meter = store.meter(meter_id)
    if meter is None:
        raise VendError(404, "no meter %r" % meter_id)
    unit = int(meter.get("token_unit_minor", 100))
    if amount <= 0 or amount % unit:
        raise VendError(400, "amount must be a positive multiple of %d minor units "
                        "(one token unit for this meter)" % unit)
    codec = _codec(store, meter)
    value = amount // unit
    vmax = 999999 if codec.extended else 995
    if value > vmax:
        raise VendError(400, "amount %d is above the largest single token (%d units = %d minor "
                        "units); vend several top-ups" % (amount, vmax, vmax * unit))
    tx, token = store.vend(meter_id, lambda last: codec.vend(value, last, opaygo.ADD),
                           {"kind": "topup", "amount": amount, "token_value": value, "ref": ref})
    if deliver is not None and deliver(meter_id, "tx-%d" % tx, token):
        store.set_transaction_status(tx, "sent")
    return transaction(store, tx)


def transaction(store, tx):
    rows = store.query("SELECT t.id, m.id AS meter, t.t, t.kind, t.amount, t.token_value,"
                       " t.token_count, t.token, t.ref, t.status FROM transactions t JOIN meters m"
                       " USING(mid) WHERE t.id=?", (tx,))
    return rows[0] if rows else None


def transactions(store, meter_id, limit=100):
    return store.query("SELECT t.id, t.t, t.kind, t.amount, t.token_value, t.token_count,"
                       " t.token, t.ref, t.status FROM transactions t JOIN meters m USING(mid)"
                       " WHERE m.id=? ORDER BY t.id DESC LIMIT ?", (meter_id, limit))


def summary(store, meter_id):
    r = store.query("SELECT count(*) AS tokens, coalesce(sum(amount), 0) AS vended,"
                    " coalesce(sum(CASE WHEN status='accepted' THEN amount END), 0) AS accepted"
                    " FROM transactions t JOIN meters m USING(mid) WHERE m.id=?", (meter_id,))[0]
    return {"tokens_vended": r["tokens"], "vended_total": r["vended"],
            "accepted_total": r["accepted"]}

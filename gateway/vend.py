"""Token vending: top-up codes made with the shared OpenPAYGO codec (prepay/opaygo.py).

Each meter's key, starting code and last vended count live in the secrets database; the
rows are gateway/storage/transactions.py's. A top-up
of `amount` minor units becomes an ADD token of value amount / unit (the meter's
token_unit_minor attribute, default 100, as its token.unit_minor setting). One IMMEDIATE
transaction writes the new count, the token, the transactions row, its idempotency key and
the outbox row that delivers it (gateway/outbox.py, cmd/token id "tx-<n>.<random>"): two
concurrent top-ups never share a count, and a paid top-up is never vended without being
queued. The count also stays above the highest the meter reports used (outbox.apply_tok).

Idempotency: a key (the Idempotency-Key header, else the body's `ref`) vends once per meter.
The same key again returns the original transaction, whatever its state, and vends nothing;
with another amount it is refused (409). The key is looked up and stored inside the same
transaction, and (meter, key) is the primary key of `vend_keys`, so concurrent duplicates
cannot both vend. The code also works typed in on the meter's page.
"""
import time

from prepay import opaygo
from prepay import protocol as P

from gateway import outbox as outbox_mod
from gateway.storage import transactions


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


def topup(store, meter_id, amount, ref=None, deliver=None, key=None, outbox=None):
    """Vend one ADD token worth `amount` minor units -> (transaction dict, created). With
    an outbox (gateway/outbox.Outbox) the token is queued for delivery in the vending
    transaction; `deliver(meter_id, tx_id, code)` is the older fire-and-forget hook (tests
    and tools without a broker)."""
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
    key = key if key is not None else ref
    with store.write() as cur:
        mid = cur.execute("SELECT mid FROM meters WHERE id=?", (meter_id,)).fetchone()[0]
        old = None if key is None else transactions.by_key(cur, mid, key)
        if old is None:
            tx = _vend(cur, meter_id, mid, codec, value, amount, ref, key,
                       "queued" if outbox is not None else "vended")
        elif old[1] != amount:
            raise VendError(409, "idempotency key %r already vended a top-up of %d minor units "
                            "on meter %s (transaction %d); this request asks for %d: use a new "
                            "key for a new top-up" % (key, old[1], meter_id, old[0], amount))
        else:
            tx = old[0]
    created = old is None
    if created and outbox is not None:
        outbox.queued()
    elif created and deliver is not None:
        t = transactions.get(store, tx)
        if deliver(meter_id, "tx-%d" % tx, t["token"]):
            with store.write() as cur:
                transactions.set_status(cur, tx, "sent")
    return transactions.get(store, tx), created


def _vend(cur, meter_id, mid, codec, value, amount, ref, key, status):
    """Inside the vending transaction: the next count, the token, the rows."""
    token, count = codec.vend(value, transactions.last_count(cur, meter_id), opaygo.ADD)
    tx = transactions.record(cur, meter_id, mid, amount, value, count, token, ref, status, key)
    if status == "queued":
        outbox_mod.insert(cur, mid, P.TOKEN, {"code": token}, time.time(), tx=tx)
    return tx

"""Vend transactions: the `transactions` table (one row per token vended, its status
following delivery), `vend_keys` (idempotency keys) and each meter's token counter in the
secrets file. gateway/vend.py decides what to vend; gateway/outbox.py moves the status as the
meter answers. The writes run inside the caller's transaction (`cur`).

Status: vended (no outbox: the older fire-and-forget hook) | queued | sent | accepted |
`rejected: <reason>` | expired.
"""
import time


def last_count(cur, meter_id):
    """The meter's last vended token count (OpenPAYGO counts only go up)."""
    return cur.execute("SELECT token_count FROM sec.meter_keys WHERE id=?",
                       (meter_id,)).fetchone()[0]


def raise_count(cur, meter_id, count):
    """The meter reports `count` as the highest it accepted: vend above it. (A secrets file
    restored from a backup, or made afresh, holds a lower count, and a token vended at a
    count the meter already used would be refused as `used`, or taken for one applied
    earlier.) -> whether the count was raised."""
    return cur.execute("UPDATE sec.meter_keys SET token_count=? WHERE id=? AND token_count<?",
                       (count, meter_id, count)).rowcount == 1


def by_key(cur, mid, key):
    """(transaction id, amount) vended under an idempotency key, or None."""
    return cur.execute("SELECT t.id, t.amount FROM vend_keys k JOIN transactions t ON t.id=k.tx"
                       " WHERE k.mid=? AND k.key=?", (mid, key)).fetchone()


def record(cur, meter_id, mid, amount, value, count, token, ref, status, key=None):
    """A top-up vended: the meter's new count, the row, its idempotency key. -> its id."""
    cur.execute("UPDATE sec.meter_keys SET token_count=? WHERE id=?", (count, meter_id))
    cur.execute("INSERT INTO transactions(mid, t, kind, amount, token_value, token_count, token,"
                " ref, status) VALUES (?,?,?,?,?,?,?,?,?)",
                (mid, int(time.time()), "topup", amount, value, count, token, ref, status))
    tx = cur.lastrowid
    if key is not None:   # (mid, key) is the primary key: a concurrent duplicate fails here
        cur.execute("INSERT INTO vend_keys(mid, key, tx) VALUES (?,?,?)", (mid, key, tx))
    return tx


def set_status(cur, tx, status, mid=None, only_from=None):
    """Move a transaction's status; `mid` checks it is that meter's, `only_from` that it is
    still in that status. -> whether a row changed."""
    sql, args = "UPDATE transactions SET status=? WHERE id=?", [status, tx]
    if mid is not None:
        sql += " AND mid=?"
        args.append(mid)
    if only_from is not None:
        sql += " AND status=?"
        args.append(only_from)
    return cur.execute(sql, args).rowcount == 1


# what delivery says about a transaction: the outbox row's reason (why rejected or expired,
# or how it was accepted), publishes, times; and the idempotency key it was vended under
_DELIVERY = ("o.cid AS command_id, o.reason, o.attempts, o.sent AS sent_at,"
             " o.done AS done_at, k.key AS idempotency_key")
_JOINS = ("LEFT JOIN outbox o ON o.tx=t.id AND o.kind='token'"
          " LEFT JOIN vend_keys k ON k.tx=t.id")


def get(store, tx):
    rows = store.query("SELECT t.id, m.id AS meter, t.t, t.kind, t.amount, t.token_value,"
                       " t.token_count, t.token, t.ref, t.status, %s FROM transactions t"
                       " JOIN meters m USING(mid) %s WHERE t.id=?" % (_DELIVERY, _JOINS), (tx,))
    return rows[0] if rows else None


def for_meter(store, meter_id, limit=100):
    """A meter's transactions, newest first, with their delivery."""
    return store.query("SELECT t.id, t.t, t.kind, t.amount, t.token_value, t.token_count,"
                       " t.token, t.ref, t.status, %s FROM transactions t JOIN meters m"
                       " USING(mid) %s WHERE m.id=? ORDER BY t.id DESC LIMIT ?"
                       % (_DELIVERY, _JOINS), (meter_id, limit))


def recent(store, limit=100):
    """The fleet's transactions, newest first, with their delivery (the console's history)."""
    return store.query("SELECT t.id, m.id AS meter, t.t, t.kind, t.amount, t.token, t.ref,"
                       " t.status, %s FROM transactions t JOIN meters m USING(mid) %s"
                       " ORDER BY t.id DESC LIMIT ?" % (_DELIVERY, _JOINS), (limit,))


def summary(store, meter_id):
    r = store.query("SELECT count(*) AS tokens, coalesce(sum(amount), 0) AS vended,"
                    " coalesce(sum(CASE WHEN status='accepted' THEN amount END), 0) AS accepted"
                    " FROM transactions t JOIN meters m USING(mid) WHERE m.id=?", (meter_id,))[0]
    return {"tokens_vended": r["tokens"], "vended_total": r["vended"],
            "accepted_total": r["accepted"]}

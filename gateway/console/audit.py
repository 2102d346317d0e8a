"""The append-only audit log: who did what, when, to what, with the state before and after.
Migration 0004's triggers refuse any UPDATE or DELETE of it."""
import json
import time


def record(store, actor, action, target="", before=None, after=None, now=None):
    with store.write() as cur:
        cur.execute("INSERT INTO audit_log(t, actor, action, target, before, after)"
                    " VALUES (?, ?, ?, ?, ?, ?)",
                    (int(now or time.time()), actor, action, str(target),
                     _json(before), _json(after)))


def entries(store, actor=None, action=None, limit=100, offset=0):
    where, args = [], []
    for col, v in (("actor", actor), ("action", action)):
        if v:
            where.append("%s=?" % col)
            args.append(v)
    sql = "SELECT id, t, actor, action, target, before, after FROM audit_log"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return store.query(sql + " ORDER BY id DESC LIMIT ? OFFSET ?", tuple(args) + (limit, offset))


def _json(v):
    return None if v is None else json.dumps(v, sort_keys=True, default=str)

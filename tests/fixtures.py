"""Builders for the data tests feed the gateway (interval records and record batches, made
once here so every test writes them the same way: prepay/record.py's layout), and the
operator's backup and restore of its database. A test module names the values its
assertions depend on, next to them:

    from functools import partial
    import fixtures
    rec = partial(fixtures.rec, t0=T0, avg_dw=5000, credit=10000)
    store.insert_records("m-1", [rec(1, 10), rec(2, 20)])
    payload = fixtures.batch([rec(1, 10)], flags=P.R_REPLAY)
"""
import shutil
import sqlite3
from pathlib import Path

from prepay import protocol as P
from prepay import record

T0 = 1767225600      # 2026-01-01 00:00 UTC


def rec(seq, wh=None, t=None, *, t0=T0, avg_dw=6000, v_dv=2300, i_ma=2600, pf_m=990,
        hz_c=5000, credit=500, flags=0):
    """One interval record as a tuple of record.FIELDS: by default one a minute from t0, its
    register at 10 Wh a record."""
    return (seq, t0 + 60 * seq if t is None else t, seq * 10 if wh is None else wh, avg_dw,
            v_dv, i_ma, pf_m, hz_c, credit, flags)


def batch(recs, flags=0, ver=None, count=None):
    """A `rec` message: the batch header and each record packed with its CRC. `ver` and
    `count` override the header's, to make bad batches."""
    head = bytearray(P.REC_HDR)
    P.rec_header(head, len(recs) if count is None else count, flags)
    if ver is not None:
        head[0] = ver
    return bytes(head) + b"".join(bytes(record.pack(*r)) for r in recs)


DB_FILES = ("", "-secrets")     # the gateway's two files: <db> and <db>-secrets


def backup(db, to):
    """An online backup of the gateway's database (SQLite's backup API), as an operator
    takes one while the gateway runs."""
    for suffix in DB_FILES:
        src, dst = sqlite3.connect("%s%s" % (db, suffix)), sqlite3.connect("%s%s" % (to, suffix))
        src.backup(dst)
        src.close()
        dst.close()


def restore(backup_db, db):
    """Put a backup in place of a stopped gateway's database (its WAL files go too)."""
    db = Path(db)
    for f in db.parent.glob(db.name + "*"):
        f.unlink()
    for suffix in DB_FILES:
        shutil.copyfile("%s%s" % (backup_db, suffix), "%s%s" % (db, suffix))

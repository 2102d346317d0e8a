"""Retention: raw records and dead letters older than the retention period are deleted;
aggregates are kept forever. On PostgreSQL, whole monthly partitions of raw that expired
are dropped first; what remains is deleted row by row, as on SQLite."""
import time

CHUNK = 5000   # raw rows deleted per statement (autocommit: the writer is not held long)


def prune(database, registry, retention_s, now=None):
    """Delete what is older than `retention_s`; returns how many raw records went. Only seqs
    at or below the persisted high-contiguous mark are deleted, so a later duplicate of a
    pruned record is still recognised as known."""
    cutoff = int(now if now is not None else time.time()) - retention_s
    total = 0
    with database.lock:
        db = database.writer
        registry.persist(db.cursor(), force=True)
        total += database.drop_expired(cutoff)    # whole partitions (PostgreSQL)
        db.execute("DELETE FROM dead_letters WHERE t < ?", (cutoff,))
        for m in list(registry.states.values()):
            while True:
                row = db.execute(
                    "SELECT max(seq) FROM (SELECT seq, t FROM raw WHERE mid=? AND seq<=?"
                    " ORDER BY seq LIMIT ?) s WHERE t < ?", (m.mid, m.hc, CHUNK, cutoff)).fetchone()
                if row[0] is None:
                    break
                n = db.execute("DELETE FROM raw WHERE mid=? AND seq<=?",
                               (m.mid, row[0])).rowcount  # autocommit
                total += n
                if m.tail and m.tail[0] <= row[0]:
                    m.tail = False
                if n < CHUNK:
                    break
    return total

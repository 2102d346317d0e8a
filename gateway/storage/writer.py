"""The batched writer: a list of operations (gateway/storage/ops.py) in one transaction.

Ingest hands over everything it validated since the last batch. The records of every meter
in the batch are stored with one INSERT (idempotent by (meter, seq): gateway/storage/
sequence.py), aggregated (gateway/aggregate.py) and the marks moved, in the same
transaction as the other operations. A failing batch is rolled back whole, and what the
writer held in memory is reloaded from the tables. The listeners hear of what was written
only after the commit.
"""
import time

from prepay.record import F_GAP, FIELDS

from gateway.storage import ops as O
from gateway.storage import sequence

RETRIES = 5   # a batch that deadlocked with another worker's is run again (PostgreSQL)

# OR IGNORE: the rows are new already (sequence.fresh), this only makes that a database rule
_INSERT_RAW = "INSERT OR IGNORE INTO raw(mid, %s) VALUES (?,?,?,?,?,?,?,?,?,?,?)" % ", ".join(FIELDS)


class Writer:
    def __init__(self, database, registry, rollup, bus, shared=False):
        """shared=True: other processes write the same database (several ingest workers on
        one file): per-meter state is re-read and persisted inside every write transaction
        instead of being cached, which costs throughput but keeps every process exact."""
        self.database = database
        self.registry = registry
        self.rollup = rollup
        self.bus = bus
        self.shared = shared
        self.stats = {"records": 0, "duplicates": 0, "dead": 0, "events": 0, "batches": 0,
                      "commit_s": 0.0, "lag_s": 0.0}
        self._stale = False   # a batch failed: reload the meters' state first
        self.resync()

    def resync(self):
        """Load the meters and walk each lazily persisted high-contiguous mark forward over
        what is stored (after a crash or a failed batch it may lag behind the rows)."""
        self.registry.load()
        cur = self.database.writer.cursor()
        for m in self.registry.states.values():
            sequence.tail(cur, m)
            sequence.advance(cur, m, {})

    def write_batch(self, items):
        """Apply many operations (gateway/storage/ops.py) in one transaction; returns one
        result per operation. Anything else in the list (ValueError) fails the batch. A
        batch another worker deadlocked with (PostgreSQL) is run again."""
        if self.database.partitioned:
            ts = [r[1] for op in items if isinstance(op, O.Records) for r in op.data]
            if ts:
                self.database.prepare_records(ts)
        for attempt in range(RETRIES, -1, -1):
            try:
                return self._write_batch(items)
            except Exception as e:
                if not attempt or not self.database.retryable(e):
                    raise

    def _write_batch(self, items):
        out = []
        notes = []
        t0 = time.perf_counter()
        states = self.registry.states
        with self.database.lock:
            if self._stale:
                self._reload()
            saved = {m: (m.hc, m.tail, m.last_seen, m.dirty) for m in
                     (states.get(getattr(op, "meter_id", None)) for op in items) if m is not None}
            cur = self.database.writer.cursor()
            cur.execute(self.database.BEGIN_BATCH)
            try:
                self.rollup.begin()
                recs = {}   # meter id -> its records from every op (one INSERT for all)
                for op in items:
                    if not isinstance(op, O.OPS):
                        raise ValueError("unknown batch operation %r" % (op,))
                    if isinstance(op, O.Records) and op.meter_id in states:
                        recs.setdefault(op.meter_id, []).extend(op.data)
                        out.append(None)
                        notes.append(["records", op.meter_id, None])   # filled in below
                    else:
                        out.append(self._apply(cur, op, notes))
                if recs:
                    new = self._records(cur, recs)
                    _count(items, out, new)
                    for n in notes:   # each meter's new records, at its first op's place
                        if n[0] == "records" and n[2] is None and new.get(n[1]):
                            n[2] = sorted(new.pop(n[1]).values())
                    notes = [n for n in notes if n[2] is not None]
                self.rollup.flush(cur)
                self.registry.persist(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                self._reload_after_rollback(saved)
                raise
            self.stats["batches"] += 1
            self.stats["commit_s"] += time.perf_counter() - t0
        self.bus.notify(notes)
        return out

    def _apply(self, cur, op, notes):
        if isinstance(op, O.DeadLetter):
            return op.apply(cur, None, notes, self.stats)
        m = self.registry.states.get(op.meter_id)
        if m is None:
            return op.unregistered().apply(cur, None, notes, self.stats)
        return op.apply(cur, m, notes, self.stats)

    def _reload_after_rollback(self, saved):
        """Forget what the failed batch did in memory: the touched meters' marks go back to
        what they were (`saved`), then the state comes back from the tables. If the database
        cannot answer now (a server away), that reload waits for the next batch, and the
        registry keeps the meters it knows meanwhile."""
        for m, (hc, tail, last_seen, dirty) in saved.items():
            m.hc, m.tail, m.last_seen, m.dirty = hc, tail, last_seen, dirty
        self.rollup.reset_meter(None)
        self._stale = True
        try:
            self._reload()
        except Exception:  # noqa: retried at the next batch
            pass

    def _reload(self):
        self.registry.load(merge=False)
        self.resync()
        self._stale = False

    def _records(self, cur, recs):
        """Store what is new of each meter's records (idempotent by seq) in one INSERT, then
        aggregate and advance each meter. Returns {meter id: {seq: new record}}."""
        per, rows, gaps = [], [], []
        if self.shared:   # another process may have written these meters since
            ms = [self.registry.states[k] for k in recs]
            marks, tails = self.database.claim_meters(cur, [m.mid for m in ms])
            for m in ms:
                m.hc = max(m.hc, marks[m.mid])
                m.tail = tails.get(m.mid, False) if tails is not None else False
        for meter_id, records in recs.items():
            m = self.registry.states[meter_id]
            tail = sequence.tail(cur, m)
            fresh = sequence.fresh(cur, m, tail, records)
            self.stats["duplicates"] += len(records) - len(fresh)
            if fresh:
                new = sorted(fresh.values())
                per.append((m, tail, fresh, new))
                rows.extend((m.mid,) + r for r in new)
                gaps.extend((m.mid, r[2], r[0] - 1) for r in new if r[9] & F_GAP)
        if rows:   # one statement per batch on PostgreSQL (Database.insert_many)
            self.database.insert_many(cur, _INSERT_RAW, rows)
        if gaps:
            self.database.insert_many(
                cur, "INSERT OR IGNORE INTO gaps(mid, lo, hi) VALUES (?,?,?)", gaps)
        now = int(time.time())
        out = {meter_id: {} for meter_id in recs}
        for m, tail, fresh, new in per:
            self.rollup.add(cur, m, new, tail)
            if not tail or new[-1][0] > tail[0]:
                m.tail = new[-1]
                self.stats["lag_s"] = time.time() - m.tail[1]   # age of the newest record
            sequence.advance(cur, m, fresh)
            m.last_seen = now
            m.dirty = True
            self.stats["records"] += len(new)
            out[m.id] = fresh
        return out


def _count(items, out, new):
    """Each Records op's result: how many of its records were new (each counted once). A
    meter with one op in the batch, as ingest makes them, has all its new records; only a
    meter with more has them shared out, by a set of what is left (a set per meter per
    batch cost the writer more than counting)."""
    ops = [i for i, op in enumerate(items) if out[i] is None and isinstance(op, O.Records)]
    n_ops = {}
    for i in ops:
        mid = items[i].meter_id
        n_ops[mid] = n_ops.get(mid, 0) + 1
    left = {}
    for i in ops:
        mid = items[i].meter_id
        if mid not in new:
            continue
        if n_ops[mid] == 1:
            out[i] = len(new[mid])
            continue
        s = left.get(mid)
        if s is None:
            s = left[mid] = set(new[mid])
        n = 0
        for r in items[i].data:
            if r[0] in s:
                s.discard(r[0])
                n += 1
        out[i] = n

"""Gateway storage: SQLite in WAL mode behind the `Storage` interface.

`Storage` lists what the ingest, the API and the tools call; `Store` is the SQLite backend. A
PostgreSQL/TimescaleDB backend implements the same methods (docs/gateway.md). One writer
connection (guarded by a lock, used by the ingest writer thread and the API's write endpoints)
and one read connection per thread: WAL lets readers run while a batch commits.

Records are tuples in prepay.record.FIELDS order. Ingest is idempotent by (meter, seq): any
seq at or below the meter's high-contiguous mark is already known, newer ones are checked
against the table only when they are below the meter's tail (late backlog), so the live path
does no lookups. Aggregates (gateway/aggregate.py) are updated in the same transaction.
Secrets (token keys) live in a separate database file, so the browsable DB holds none.
"""
import json
import sqlite3
import threading
import time

from prepay.record import F_GAP, FIELDS
from prepay.tariff import Tariff

from gateway import schema
from gateway.aggregate import Rollup

SECRET_ATTRS = ("token_key", "token_starting_code")
# Meter attributes with their own column; any other attribute is kept in the attrs JSON.
COLUMNS = ("name", "grp", "tariff", "utc_offset_min", "interval_s", "max_power_w", "first_seq")
STATUS = ("online", "last_seen", "fw", "rssi", "errors")
FLUSH_S = 2.0  # in-memory meter state (hc, last_seen) is persisted at most this often


class Storage:
    """The storage interface. Every backend implements these; callers use nothing else."""

    def register_meter(self, meter_id, **attrs): raise NotImplementedError
    def remove_meter(self, meter_id): raise NotImplementedError
    def meter(self, meter_id): raise NotImplementedError
    def meters(self): raise NotImplementedError
    def is_registered(self, meter_id): raise NotImplementedError
    def set_meter_status(self, meter_id, **fields): raise NotImplementedError
    def insert_records(self, meter_id, records): raise NotImplementedError
    def high_contiguous(self, meter_id): raise NotImplementedError
    def pending(self):
        """Seqs above the high-contiguous marks up to each meter's tail (holes and what
        follows them), over the meters the writer has touched since start."""
        return sum(m.tail[0] - m.hc for m in list(self._m.values()) if m.tail and m.tail[0] > m.hc)

    def missing(self, meter_id, limit=10): raise NotImplementedError
    def dead_letter(self, topic, payload, reason): raise NotImplementedError
    def insert_events(self, meter_id, events): raise NotImplementedError
    def set_live(self, meter_id, tele): raise NotImplementedError
    def command_result(self, meter_id, res): raise NotImplementedError
    def write_batch(self, items): raise NotImplementedError
    def vend(self, meter_id, make, tx): raise NotImplementedError
    def set_transaction_status(self, tx_id, status): raise NotImplementedError
    def put_tariff(self, name, doc): raise NotImplementedError
    def tariffs(self, name=None): raise NotImplementedError
    def put_billing_plan(self, name, doc): raise NotImplementedError
    def billing_plans(self, name=None): raise NotImplementedError
    def prune(self, now=None): raise NotImplementedError
    def listen(self, fn): raise NotImplementedError
    def close(self): raise NotImplementedError


class MeterState:
    """What the writer keeps in memory per registered meter (the hot path reads only this)."""
    __slots__ = ("id", "mid", "grp", "tariff", "off", "interval_s", "max_power_w", "hc",
                 "tail", "last_seen", "dirty", "rates")

    def __init__(self, row):
        (self.id, self.mid, self.grp, self.tariff, self.off, self.interval_s,
         self.max_power_w, self.hc, self.last_seen) = row
        self.tail = False   # record tuple with the highest seq; False = not loaded yet
        self.dirty = False
        self.rates = None   # tariff object, resolved by Rollup


class Store(Storage):
    def __init__(self, path, retention_days=90, utc_offset_min=0, tariffs=None, shared=False):
        """shared=True: other processes write the same database (several ingest workers on
        one file): per-meter state is re-read and persisted inside every write transaction
        instead of being cached, which costs throughput but keeps every process exact."""
        if str(path) == ":memory:":
            raise ValueError("Store needs a file path (readers use their own connections)")
        self.path = str(path)
        self.secrets_path = self.path + "-secrets"
        self.retention_s = int(retention_days * 86400)
        self.utc_offset_min = utc_offset_min    # fleet-level day boundaries
        self._lock = threading.RLock()
        self._local = threading.local()
        self._listeners = []
        self.shared = shared
        self._miss = {}   # meter id -> when the DB last said "not registered"
        self.db = self._connect()
        schema.create(self.db)
        self._m = {}
        self._resync()
        self.rollup = Rollup(self, tariffs)
        self._flushed = time.monotonic()
        self.stats = {"records": 0, "duplicates": 0, "dead": 0, "events": 0, "batches": 0,
                      "commit_s": 0.0, "lag_s": 0.0}

    # -- connections ---------------------------------------------------------------------
    def _connect(self, readonly=False):
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=30)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")     # WAL + NORMAL: durable across app crashes
        db.execute("PRAGMA cache_size=-65536")
        db.execute("PRAGMA temp_store=MEMORY")
        db.execute("ATTACH DATABASE ? AS sec", (self.secrets_path,))
        if readonly:
            db.execute("PRAGMA query_only=1")
        return db

    def reader(self):
        """This thread's read connection (readers never block the writer in WAL mode)."""
        db = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect(readonly=True)
        return db

    def query(self, sql, args=()):
        cur = self.reader().execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def listen(self, fn):
        """fn(kind, meter_id, data) after each commit: kind records|events|live|status|dead."""
        self._listeners.append(fn)

    def close(self):
        with self._lock:
            if self.db is None:
                return
            self._flush_state(self.db.cursor(), force=True)
            self.db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.db.close()
            self.db = None

    # -- meters --------------------------------------------------------------------------
    def _load_meters(self):
        """(Re)load meter attributes; what the writer knows better (tail, a higher hc, a
        newer last_seen) is kept."""
        old, self._m = self._m, {}
        for row in self.db.execute(
                "SELECT id, mid, grp, tariff, utc_offset_min, interval_s, max_power_w, hc,"
                " last_seen FROM meters WHERE removed IS NULL"):
            m = self._m[row[0]] = MeterState(row)
            o = old.get(row[0])
            if o is not None and o.mid == m.mid:
                m.tail, m.dirty = o.tail, o.dirty
                m.hc = max(m.hc, o.hc)
                m.last_seen = max(m.last_seen or 0, o.last_seen or 0) or None

    def register_meter(self, meter_id, **attrs):
        """Add or update a meter (provisioning). Unknown attributes go to the attrs JSON."""
        if not schema.valid_id(meter_id):
            raise ValueError("meter id must match [a-z0-9-]{1,32}: %r" % (meter_id,))
        if isinstance(attrs.get("tariff"), dict):  # an inline tariff (provisioning): store it
            doc = attrs["tariff"]
            attrs["tariff"] = self.put_tariff(doc.get("name") or meter_id, doc)["name"]
        cols = {k: attrs.pop(k) for k in COLUMNS if k in attrs}
        secret = {k: attrs.pop(k) for k in SECRET_ATTRS if k in attrs}
        for k in STATUS:
            attrs.pop(k, None)
        if "first_seq" in cols and int(cols["first_seq"]) < 0:
            raise ValueError("first_seq must be >= 0")
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                row = db.execute("SELECT attrs FROM meters WHERE id=?", (meter_id,)).fetchone()
                if row is None:
                    first = int(cols.get("first_seq", 1))
                    mid = db.execute("SELECT coalesce(max(mid), 0) + 1 FROM meters").fetchone()[0]
                    db.execute("INSERT INTO meters(id, mid, hc, created) VALUES (?,?,?,?)",
                               (meter_id, mid, first - 1, int(time.time())))
                    old = {}
                else:
                    old = json.loads(row[0])
                    cols.pop("first_seq", None)  # seq numbering is fixed once records exist
                    cols["removed"] = None       # re-registering keeps the meter's history
                old.update(attrs)
                sets = ["attrs=?"] + ["%s=?" % k for k in cols]
                db.execute("UPDATE meters SET %s WHERE id=?" % ", ".join(sets),
                           [json.dumps(old, sort_keys=True)] + list(cols.values()) + [meter_id])
                if secret:
                    db.execute("INSERT INTO sec.meter_keys(id) VALUES (?) ON CONFLICT DO NOTHING",
                               (meter_id,))
                    for k, v in secret.items():
                        db.execute("UPDATE sec.meter_keys SET %s=? WHERE id=?" % k, (v, meter_id))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
            self._flush_state(db.cursor(), force=True)
            self._load_meters()
            self.rollup.reset_meter(meter_id)
        return self.meter(meter_id)

    def remove_meter(self, meter_id):
        """Unregister: its history and aggregates stay, new messages are dead-lettered."""
        with self._lock:
            m = self._m.pop(meter_id, None)
            if m is None:
                return False
            self._flush_state(self.db.cursor(), force=True)
            self.db.execute("UPDATE meters SET removed=?, online=0 WHERE id=?",
                            (int(time.time()), meter_id))
            self.db.execute("DELETE FROM sec.meter_keys WHERE id=?", (meter_id,))
        return True

    def is_registered(self, meter_id):
        """Cached; a miss is checked against the database at most once a second per id, so
        a meter provisioned by another process (host_tools/provision.py --db) is picked up."""
        if meter_id in self._m:
            return True
        now = time.monotonic()
        if now - self._miss.get(meter_id, -2.0) < 1.0:
            return False
        if len(self._miss) > 10000:
            self._miss.clear()
        self._miss[meter_id] = now
        if self.reader().execute("SELECT 1 FROM meters WHERE id=? AND removed IS NULL",
                                 (meter_id,)).fetchone() is None:
            return False
        with self._lock:
            self._flush_state(self.db.cursor(), force=True)
            self._load_meters()
            self.rollup.reset_meter(meter_id)
        return meter_id in self._m

    def meter(self, meter_id):
        rows = self.query("SELECT * FROM meters WHERE id=? AND removed IS NULL", (meter_id,))
        return _meter_dict(rows[0], self._m.get(meter_id)) if rows else None

    def meters(self):
        return [_meter_dict(r, self._m.get(r["id"]))
                for r in self.query("SELECT * FROM meters WHERE removed IS NULL ORDER BY id")]

    def secret(self, meter_id):
        """(token_key, token_starting_code) for vending, or None."""
        return self.reader().execute(
            "SELECT token_key, token_starting_code FROM sec.meter_keys WHERE id=?",
            (meter_id,)).fetchone()

    # -- token vending ------------------------------------------------------------------------
    def vend(self, meter_id, make, tx):
        """make(last_count) -> (token, count) runs inside one transaction that stores the new
        count and a transactions row (fields of tx: kind, amount, token_value, ref), so a
        count is never used twice. Returns (transaction id, token)."""
        with self._lock:
            db = self.db
            db.execute("BEGIN IMMEDIATE")
            try:
                last = db.execute("SELECT token_count FROM sec.meter_keys WHERE id=?",
                                  (meter_id,)).fetchone()[0]
                token, count = make(last)
                db.execute("UPDATE sec.meter_keys SET token_count=? WHERE id=?", (count, meter_id))
                cur = db.execute(
                    "INSERT INTO transactions(mid, t, kind, amount, token_value, token_count, token,"
                    " ref, status) VALUES ((SELECT mid FROM meters WHERE id=?),?,?,?,?,?,?,?,?)",
                    (meter_id, int(time.time()), tx["kind"], tx["amount"], tx["token_value"], count,
                     token, tx.get("ref"), "vended"))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return cur.lastrowid, token

    def set_transaction_status(self, tx_id, status):
        with self._lock:
            self.db.execute("UPDATE transactions SET status=? WHERE id=?", (status, tx_id))

    # -- tariffs ------------------------------------------------------------------------------
    def put_tariff(self, name, doc):
        """Create or replace a tariff; prepay.tariff.Tariff validates it (TariffError, a
        ValueError listing every problem). Costs already aggregated keep their old prices."""
        if not schema.valid_id(name):
            raise ValueError("tariff name must match [a-z0-9-]{1,32}: %r" % (name,))
        Tariff(doc)
        with self._lock:
            self.db.execute("INSERT INTO tariffs(name, spec, updated) VALUES (?,?,?) ON CONFLICT(name)"
                            " DO UPDATE SET spec=excluded.spec, updated=excluded.updated",
                            (name, json.dumps(doc, sort_keys=True), int(time.time())))
            self.rollup.reset_meter(None)
        return self.tariffs(name)[0]

    def tariffs(self, name=None):
        rows = self.query("SELECT name, spec, updated FROM tariffs%s ORDER BY name"
                          % (" WHERE name=?" if name else ""), (name,) if name else ())
        for r in rows:
            r["spec"] = json.loads(r["spec"])
            r["meters"] = [m for m, in self.reader().execute(
                "SELECT id FROM meters WHERE tariff=? AND removed IS NULL ORDER BY id", (r["name"],))]
        return rows

    # -- billing plans (gateway/billing.py) ---------------------------------------------------
    def put_billing_plan(self, name, doc):
        """Create or replace a billing plan; billing.Plan validates it (PlanError, a
        ValueError listing every problem)."""
        from gateway.billing import Plan
        if not schema.valid_id(name):
            raise ValueError("plan name must match [a-z0-9-]{1,32}: %r" % (name,))
        Plan(doc)
        with self._lock:
            self.db.execute("INSERT INTO billing_plans(name, spec, updated) VALUES (?,?,?)"
                            " ON CONFLICT(name) DO UPDATE SET spec=excluded.spec,"
                            " updated=excluded.updated",
                            (name, json.dumps(doc, sort_keys=True), int(time.time())))
        return self.billing_plans(name)[0]

    def billing_plans(self, name=None):
        rows = self.query("SELECT name, spec, updated FROM billing_plans%s ORDER BY name"
                          % (" WHERE name=?" if name else ""), (name,) if name else ())
        for r in rows:
            r["plan"] = json.loads(r.pop("spec"))
        return rows

    # -- single operations (each is a one-item batch) -------------------------------------
    def set_meter_status(self, meter_id, **fields):
        return self.write_batch([("status", meter_id, fields)])[0]

    def insert_records(self, meter_id, records):
        return self.write_batch([("records", meter_id, records)])[0]

    def dead_letter(self, topic, payload, reason):
        return self.write_batch([("dead", topic, payload, reason)])[0]

    def insert_events(self, meter_id, events):
        return self.write_batch([("events", meter_id, events)])[0]

    def set_live(self, meter_id, tele):
        return self.write_batch([("live", meter_id, tele)])[0]

    def command_result(self, meter_id, res):
        return self.write_batch([("res", meter_id, res)])[0]

    # -- the batched writer ---------------------------------------------------------------
    def write_batch(self, items):
        """Apply many operations in one transaction; returns one result per item.

        items: ("records", meter_id, [record tuples]) -> number of new records stored
               ("events", meter_id, [event dicts])    -> number stored
               ("status", meter_id, {field: value})   -> None
               ("live", meter_id, {telemetry})        -> None
               ("dead", topic, payload_bytes, reason)  -> None
               ("res", meter_id, {res})               -> True if it answered a vended token
        An operation for a meter that is not registered is dead-lettered, never dropped.
        """
        out = []
        notes = []
        t0 = time.perf_counter()
        with self._lock:
            cur = self.db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                self.rollup.begin()
                recs = {}   # meter id -> its records from every op (one INSERT for all)
                for it in items:
                    if it[0] == "records" and it[1] in self._m:
                        recs.setdefault(it[1], []).extend(it[2])
                        out.append(None)
                        notes.append(["records", it[1], None])   # filled in below
                    else:
                        out.append(self._apply(cur, it, notes))
                if recs:
                    new = self._records(cur, recs)
                    self._count(items, out, new)
                    for n in notes:   # each meter's new records, at its first op's place
                        if n[0] == "records" and n[2] is None and new.get(n[1]):
                            n[2] = sorted(new.pop(n[1]).values())
                    notes = [n for n in notes if n[2] is not None]
                self.rollup.flush(cur)
                self._flush_state(cur)
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                self._reload_after_rollback()
                raise
            self.stats["batches"] += 1
            self.stats["commit_s"] += time.perf_counter() - t0
        for n in notes:
            for fn in self._listeners:
                try:
                    fn(*n)
                except Exception:  # a listener must never break ingest
                    pass
        return out

    def _reload_after_rollback(self):
        """Forget what the failed batch did in memory: state comes back from the tables."""
        self._m = {}
        self._resync()
        self.rollup.reset_meter(None)

    def _resync(self):
        """Load the meters and walk each lazily persisted high-contiguous mark forward over
        what is stored (after a crash or a failed batch it may lag behind the rows)."""
        self._load_meters()
        cur = self.db.cursor()
        for m in self._m.values():
            self._tail(cur, m)
            self._advance(cur, m, {})

    def _apply(self, cur, it, notes):
        kind = it[0]
        if kind == "dead":
            _, topic, payload, reason = it
            cur.execute("INSERT INTO dead_letters(t, topic, payload, reason) VALUES (?,?,?,?)",
                        (time.time(), str(topic), bytes(payload), str(reason)))
            self.stats["dead"] += 1
            notes.append(("dead", None, {"topic": str(topic), "reason": str(reason)}))
            return None
        meter_id, data = it[1], it[2]
        m = self._m.get(meter_id)
        if m is None:
            body = json.dumps({kind: data}, default=list).encode()
            return self._apply(cur, ("dead", "store/" + kind + "/" + str(meter_id), body,
                                     "meter not registered"), notes)
        if kind == "events":
            n = 0
            for ev in data:
                kind_ = str(ev.get("kind", "?"))
                eseq = ev.get("seq") if isinstance(ev.get("seq"), int) else None
                cur.execute("INSERT OR IGNORE INTO events(mid, t, kind, eseq, data, recv)"
                            " VALUES (?,?,?,?,?,?)",
                            (m.mid, int(ev.get("t") or 0), kind_, eseq,
                             json.dumps(ev, sort_keys=True), int(time.time())))
                n += cur.rowcount
            self.stats["events"] += n
            if n:
                notes.append(("events", meter_id, data))
            return n
        if kind == "status":
            fields = {k: v for k, v in data.items() if k in STATUS}
            if "errors" in fields and not isinstance(fields["errors"], (str, type(None))):
                fields["errors"] = json.dumps(fields["errors"])
            if "online" in fields:
                fields["online"] = 1 if fields["online"] else 0
            if "last_seen" in fields:
                m.last_seen = fields["last_seen"]
            if fields:
                cur.execute("UPDATE meters SET %s WHERE mid=?" % ", ".join(
                    "%s=?" % k for k in fields), list(fields.values()) + [m.mid])
                notes.append(("status", meter_id, fields))
            return None
        if kind == "live":
            m.last_seen = int(time.time())
            m.dirty = True
            if isinstance(data.get("rssi"), int):   # signal is tracked with the meter
                cur.execute("UPDATE meters SET rssi=? WHERE mid=?", (data["rssi"], m.mid))
            cur.execute("INSERT INTO live(mid, t, data) VALUES (?,?,?) ON CONFLICT(mid) DO UPDATE"
                        " SET t=excluded.t, data=excluded.data",
                        (m.mid, int(data.get("t") or time.time()), json.dumps(data, sort_keys=True)))
            notes.append(("live", meter_id, data))
            return None
        if kind == "res":   # the meter's answer to cmd/token: id "tx-<transaction id>"
            rid = str(data.get("id", ""))
            if data.get("cmd") != "token" or not rid.startswith("tx-") or not rid[3:].isdigit():
                return False
            status = "accepted" if data.get("ok") else "rejected: %s" % data.get("error", "?")
            cur.execute("UPDATE transactions SET status=? WHERE id=? AND mid=?",
                        (status, int(rid[3:]), m.mid))
            notes.append(("status", meter_id, {"transaction": int(rid[3:]), "status": status}))
            return cur.rowcount == 1
        raise ValueError("unknown batch operation %r" % (kind,))

    def _tail(self, cur, m):
        if m.tail is False:
            m.tail = cur.execute("SELECT %s FROM raw WHERE mid=? ORDER BY seq DESC LIMIT 1"
                                 % ", ".join(FIELDS), (m.mid,)).fetchone()
        return m.tail

    def _records(self, cur, recs):
        """Store what is new of each meter's records (idempotent by seq) in one INSERT, then
        aggregate and advance each meter. Returns {meter id: {seq: new record}}."""
        per, rows, gaps = [], [], []
        for meter_id, records in recs.items():
            m = self._m[meter_id]
            if self.shared:   # another process may have written this meter since
                m.tail = False
                m.hc = max(m.hc, cur.execute("SELECT hc FROM meters WHERE mid=?",
                                             (m.mid,)).fetchone()[0])
            tail = self._tail(cur, m)
            fresh = self._fresh(cur, m, tail, records)
            self.stats["duplicates"] += len(records) - len(fresh)
            if fresh:
                new = sorted(fresh.values())
                per.append((m, tail, fresh, new))
                rows.extend((m.mid,) + r for r in new)
                gaps.extend((m.mid, r[2], r[0] - 1) for r in new if r[9] & F_GAP)
        if rows:
            cur.executemany("INSERT INTO raw(mid, %s) VALUES (?,?,?,?,?,?,?,?,?,?,?)"
                            % ", ".join(FIELDS), rows)
        if gaps:
            cur.executemany("INSERT OR IGNORE INTO gaps(mid, lo, hi) VALUES (?,?,?)", gaps)
        now = int(time.time())
        out = {meter_id: {} for meter_id in recs}
        for m, tail, fresh, new in per:
            self.rollup.add(cur, m, new, tail)
            if not tail or new[-1][0] > tail[0]:
                m.tail = new[-1]
                self.stats["lag_s"] = time.time() - m.tail[1]   # age of the newest record
            self._advance(cur, m, fresh)
            m.last_seen = now
            m.dirty = True
            self.stats["records"] += len(new)
            out[m.id] = fresh
        return out

    def _fresh(self, cur, m, tail, records):
        """{seq: record} of those not stored yet. At or below the high-contiguous mark all
        are known; above the tail all are new; in between (late backlog) the table says."""
        tseq = tail[0] if tail else m.hc
        fresh, late = {}, []
        for r in records:
            seq = r[0]
            if seq <= m.hc or seq in fresh:
                continue
            if seq <= tseq:
                late.append(seq)
            fresh[seq] = tuple(r)
        q = "SELECT seq FROM raw WHERE mid=? AND seq IN (%s)"
        for i in range(0, len(late), 500):
            chunk = late[i:i + 500]
            for (s,) in cur.execute(q % ",".join("?" * len(chunk)), [m.mid] + chunk):
                del fresh[s]
        return fresh

    @staticmethod
    def _count(items, out, new):
        """Each records op's result: how many of its records were new (each counted once)."""
        left = {k: set(v) for k, v in new.items()}
        for i, it in enumerate(items):
            if it[0] == "records" and out[i] is None and it[1] in left:
                s = left[it[1]]
                n = 0
                for r in it[2]:
                    if r[0] in s:
                        s.discard(r[0])
                        n += 1
                out[i] = n

    def _advance(self, cur, m, fresh):
        """Move the high-contiguous mark over present seqs and declared gaps (the table is
        asked only while stored seqs lie above the mark: not on the in-order live path)."""
        hc = m.hc
        top = m.tail[0] if m.tail else hc
        while hc < top:
            if hc + 1 in fresh:
                hc += 1
                continue
            g = cur.execute("SELECT max(hi) FROM gaps WHERE mid=? AND lo<=? AND hi>?",
                            (m.mid, hc + 1, hc)).fetchone()[0]
            if g is not None:
                hc = g
                continue
            rows = cur.execute("SELECT seq FROM raw WHERE mid=? AND seq>? ORDER BY seq LIMIT 512",
                               (m.mid, hc)).fetchall()
            moved = False
            for (s,) in rows:
                if s != hc + 1:
                    break
                hc = s
                moved = True
            if not moved:
                break
        m.hc = hc

    def _flush_state(self, cur, force=False):
        now = time.monotonic()
        if not (force or self.shared) and now - self._flushed < FLUSH_S:
            return
        self._flushed = now
        rows = [(m.hc, m.last_seen, m.mid) for m in self._m.values() if m.dirty]
        if rows:  # max(): a shared database may hold a higher mark from another worker
            cur.executemany("UPDATE meters SET hc=max(hc, ?), last_seen=max(coalesce(last_seen, 0), ?)"
                            " WHERE mid=?", rows)
        for m in self._m.values():
            m.dirty = False

    # -- sync bookkeeping ------------------------------------------------------------------
    def high_contiguous(self, meter_id):
        m = self._m.get(meter_id)
        if m is None:
            return None
        if self.shared:
            return max(m.hc, self.reader().execute("SELECT hc FROM meters WHERE mid=?",
                                                   (m.mid,)).fetchone()[0])
        return m.hc

    def pending(self):
        """Seqs above the high-contiguous marks up to each meter's tail (holes and what
        follows them), over the meters the writer has touched since start."""
        return sum(m.tail[0] - m.hc for m in list(self._m.values()) if m.tail and m.tail[0] > m.hc)

    def missing(self, meter_id, limit=10):
        """Up to `limit` (lo, hi) ranges of seqs above high_contiguous not stored and not
        declared dropped, oldest first (what the gateway asks the meter to replay)."""
        m = self._m.get(meter_id)
        if m is None:
            return []
        db = self.reader()
        out = []
        rows = db.execute(
            "SELECT prev + 1, seq - 1 FROM (SELECT seq, lag(seq, 1, ?) OVER (ORDER BY seq) prev"
            " FROM raw WHERE mid=? AND seq>?) WHERE seq > prev + 1", (m.hc, m.mid, m.hc))
        gaps = db.execute("SELECT lo, hi FROM gaps WHERE mid=? AND hi>? ORDER BY lo",
                          (m.mid, m.hc)).fetchall()
        for lo, hi in rows:
            for glo, ghi in gaps:  # subtract declared journal-full gaps
                if glo <= lo <= ghi:
                    lo = ghi + 1
                elif lo < glo <= hi:
                    if ghi >= hi:
                        hi = glo - 1
                    else:
                        out.append((lo, glo - 1))
                        lo = ghi + 1
            if lo <= hi:
                out.append((lo, hi))
            if len(out) >= limit:
                break
        return out[:limit]

    # -- retention -------------------------------------------------------------------------
    def prune(self, now=None):
        """Delete raw records older than the retention period (aggregates stay forever).
        Only seqs at or below the persisted high-contiguous mark are deleted, so a later
        duplicate of a pruned record is still recognised as known."""
        cutoff = int(now if now is not None else time.time()) - self.retention_s
        total = 0
        with self._lock:
            self._flush_state(self.db.cursor(), force=True)
            for m in list(self._m.values()):
                while True:
                    row = self.db.execute(
                        "SELECT max(seq) FROM (SELECT seq, t FROM raw WHERE mid=? AND seq<=?"
                        " ORDER BY seq LIMIT 5000) WHERE t < ?", (m.mid, m.hc, cutoff)).fetchone()
                    if row[0] is None:
                        break
                    n = self.db.execute("DELETE FROM raw WHERE mid=? AND seq<=?",
                                        (m.mid, row[0])).rowcount  # autocommit
                    total += n
                    if m.tail and m.tail[0] <= row[0]:
                        m.tail = False
                    if n < 5000:
                        break
        return total


def _meter_dict(row, state):
    d = dict(row)
    d.update(json.loads(d.pop("attrs") or "{}"))
    d["online"] = bool(d["online"])
    if state is not None:  # the writer's view is newer than the persisted one
        d["hc"], d["last_seen"] = state.hc, state.last_seen
    if d.get("errors"):
        try:
            d["errors"] = json.loads(d["errors"])
        except ValueError:
            pass
    d["high_contiguous"] = d.pop("hc")
    d["group"] = d.pop("grp")
    d.pop("mid", None)
    d.pop("removed", None)
    return d

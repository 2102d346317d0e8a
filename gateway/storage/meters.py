"""The meter registry: the `meters` table, the token secrets, and what the writer keeps in
memory per registered meter (MeterState).

Provisioning registers meters (host_tools/provision.py, POST /api/meters); traffic from
anyone else is dead-lettered. A meter registered by another process is picked up at its
first message: a miss is re-checked against the database at most once a second.

The writer keeps each meter's high-contiguous mark and last-seen time in memory and persists
them lazily (`persist`, at most every FLUSH_S), unless the database is shared with other
processes, when they are written in every transaction.
"""
import json
import sqlite3
import time

from gateway import schema

SECRET_ATTRS = ("token_key", "token_starting_code")
# Meter attributes with their own column; any other attribute is kept in the attrs JSON.
COLUMNS = ("name", "grp", "tariff", "utc_offset_min", "interval_s", "max_power_w", "first_seq",
           "disconnected")
# the keys a page of meters may be ordered by, and their columns (last_seen as persisted)
SORTABLE = {"id": "id", "name": "name", "group": "grp", "last_seen": "last_seen",
            "status": "online"}
STATUS = ("online", "last_seen", "fw", "rssi", "errors")
FLUSH_S = 2.0  # in-memory meter state (hc, last_seen) is persisted at most this often


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


class Registry:
    def __init__(self, database, shared=False, changed=lambda meter_id: None):
        """changed(meter_id) is called when a meter's attributes may have changed (its tariff
        or group: the aggregation's price cache forgets it)."""
        self.database = database
        self.shared = shared
        self.changed = changed
        self.states = {}   # meter id -> MeterState of each registered meter
        self._miss = {}    # meter id -> when the database last said "not registered"
        self._flushed = time.monotonic()   # the writer loads the meters (Writer.resync)

    def load(self, merge=True):
        """(Re)load meter attributes; what the writer knows better (tail, a higher hc, a
        newer last_seen) is kept, unless merge=False (after a failed batch). The states are
        replaced only once the table was read (the database may be unreachable)."""
        old, states = (self.states if merge else {}), {}
        for row in self.database.writer.execute(
                "SELECT id, mid, grp, tariff, utc_offset_min, interval_s, max_power_w, hc,"
                " last_seen FROM meters WHERE removed IS NULL"):
            m = states[row[0]] = MeterState(row)
            o = old.get(row[0])
            if o is not None and o.mid == m.mid:
                m.tail, m.dirty = o.tail, o.dirty
                m.hc = max(m.hc, o.hc)
                m.last_seen = max(m.last_seen or 0, o.last_seen or 0) or None
        self.states = states

    def persist(self, cur, force=False):
        """Write the marks and last-seen times the writer holds in memory."""
        now = time.monotonic()
        if not (force or self.shared) and now - self._flushed < FLUSH_S:
            return
        self._flushed = now
        rows = sorted(((m.hc, m.last_seen, m.mid) for m in self.states.values() if m.dirty),
                      key=lambda r: r[2])   # one lock order for every worker (PostgreSQL)
        if rows:  # never lowered (Database.mark_meters): another worker may be ahead
            self.database.mark_meters(cur, rows)
        for m in self.states.values():
            m.dirty = False

    def _reload(self, meter_id):
        """After the table changed: persist what memory holds, reload, tell `changed`."""
        self.persist(self.database.writer.cursor(), force=True)
        self.load()
        self.changed(meter_id)

    def register(self, meter_id, **attrs):
        """Add or update a meter (provisioning). Unknown attributes go to the attrs JSON;
        status fields are the meter's to report and are ignored."""
        if not schema.valid_id(meter_id):
            raise ValueError("meter id must match [a-z0-9-]{1,32}: %r" % (meter_id,))
        cols = {k: attrs.pop(k) for k in COLUMNS if k in attrs}
        secret = {k: attrs.pop(k) for k in SECRET_ATTRS if k in attrs}
        for k in STATUS:
            attrs.pop(k, None)
        if "first_seq" in cols and int(cols["first_seq"]) < 0:
            raise ValueError("first_seq must be >= 0")
        with self.database.lock:
            with self.database.transaction() as cur:
                row = cur.execute("SELECT attrs FROM meters WHERE id=?", (meter_id,)).fetchone()
                if row is None:
                    _insert(cur, [meter_id], int(cols.get("first_seq", 1)))
                    old = {}
                else:
                    old = json.loads(row[0])
                    cols.pop("first_seq", None)  # seq numbering is fixed once records exist
                    cols["removed"] = None       # re-registering keeps the meter's history
                old.update(attrs)
                sets = ["attrs=?"] + ["%s=?" % k for k in cols]
                cur.execute("UPDATE meters SET %s WHERE id=?" % ", ".join(sets),
                            [json.dumps(old, sort_keys=True)] + list(cols.values()) + [meter_id])
                if secret:
                    cur.execute("INSERT INTO sec.meter_keys(id) VALUES (?) ON CONFLICT DO NOTHING",
                                (meter_id,))
                    for k, v in secret.items():
                        cur.execute("UPDATE sec.meter_keys SET %s=? WHERE id=?" % k, (v, meter_id))
            self._reload(meter_id)
        return self.meter(meter_id)

    def register_new(self, meter_ids):
        """Add many new meters with the default attributes in one transaction and one
        reload (a fleet provisioned at once; register() reloads every meter per call, which
        is quadratic at 100,000). An id already registered is a ValueError."""
        for meter_id in meter_ids:
            if not schema.valid_id(meter_id):
                raise ValueError("meter id must match [a-z0-9-]{1,32}: %r" % (meter_id,))
        with self.database.lock:
            with self.database.transaction() as cur:
                try:
                    _insert(cur, meter_ids, 1)
                except sqlite3.IntegrityError:
                    raise ValueError("a meter id is already registered (or was removed)")
            self._reload(None)

    def remove(self, meter_id):
        """Unregister: its history and aggregates stay, new messages are dead-lettered."""
        with self.database.lock:
            m = self.states.pop(meter_id, None)
            if m is None:
                return False
            db = self.database.writer
            self.persist(db.cursor(), force=True)
            db.execute("UPDATE meters SET removed=?, online=0 WHERE id=?",
                       (int(time.time()), meter_id))
            db.execute("DELETE FROM sec.meter_keys WHERE id=?", (meter_id,))
        return True

    def is_registered(self, meter_id):
        """Cached; a miss is checked against the database at most once a second per id, so
        a meter provisioned by another process (host_tools/provision.py --db) is picked up."""
        if meter_id in self.states:
            return True
        now = time.monotonic()
        if now - self._miss.get(meter_id, -2.0) < 1.0:
            return False
        if len(self._miss) > 10000:
            self._miss.clear()
        self._miss[meter_id] = now
        if self.database.reader().execute("SELECT 1 FROM meters WHERE id=? AND removed IS NULL",
                                          (meter_id,)).fetchone() is None:
            return False
        with self.database.lock:
            self._reload(meter_id)
        return meter_id in self.states

    def meter(self, meter_id):
        rows = self.database.query("SELECT * FROM meters WHERE id=? AND removed IS NULL",
                                   (meter_id,))
        return _meter_dict(rows[0], self.states.get(meter_id)) if rows else None

    def meters(self):
        return [_meter_dict(r, self.states.get(r["id"])) for r in self.database.query(
            "SELECT * FROM meters WHERE removed IS NULL ORDER BY id")]

    def page(self, q=None, online=None, sort="id", desc=False, limit=None, offset=0):
        """(meters, how many match): those whose id, name, group or any attribute contains
        q (case-insensitive), online or not, ordered by a SORTABLE key then id, one page of
        them. The database sorts and counts, so a page of 10,000 meters costs one page."""
        where, args = ["removed IS NULL"], []
        if q:
            like = schema.contains(q)
            where.append("(" + " OR ".join("lower(coalesce(%s, '')) LIKE ? ESCAPE '\\'" % c
                                           for c in ("id", "name", "grp", "attrs")) + ")")
            args += [like] * 4
        if online is not None:
            where.append("online=?")
            args.append(1 if online else 0)
        cond = " WHERE " + " AND ".join(where)
        total = self.database.query("SELECT count(*) AS n FROM meters" + cond, tuple(args))[0]["n"]
        sql = "SELECT * FROM meters%s ORDER BY %s %s, id" % (cond, SORTABLE[sort],
                                                           "DESC" if desc else "ASC")
        if limit is not None:
            sql += " LIMIT ? OFFSET ?"
            args += [limit, offset]
        rows = self.database.query(sql, tuple(args))
        return [_meter_dict(r, self.states.get(r["id"])) for r in rows], total

    def secret(self, meter_id):
        """(token_key, token_starting_code) for vending, or None."""
        return self.database.reader().execute(
            "SELECT token_key, token_starting_code FROM sec.meter_keys WHERE id=?",
            (meter_id,)).fetchone()


def _insert(cur, meter_ids, first_seq):
    """New meters rows (internal keys numbered on), marks just below their first seq."""
    mid = cur.execute("SELECT coalesce(max(mid), 0) + 1 FROM meters").fetchone()[0]
    now = int(time.time())
    cur.executemany("INSERT INTO meters(id, mid, hc, created) VALUES (?,?,?,?)",
                    [(m, mid + k, first_seq - 1, now) for k, m in enumerate(meter_ids)])


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
    if d.get("disconnected") is None:   # absent while in service, as `connected` when unset
        d.pop("disconnected", None)
    return d

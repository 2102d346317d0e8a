"""The gateway's store: what ingest, the API, billing and the tools call, assembled from the
parts in gateway/storage/, one job each:

    database.py    SQLite connections (one writer behind a lock, a reader per thread) and the
                   secrets file; migrate.py applies gateway/migrations/ at open
    meters.py      the meter registry, its secrets and per-meter state in memory
    documents.py   tariffs and billing plans (one implementation for both)
    ops.py         the operations of a write batch; writer.py applies them in one transaction
    sequence.py    new or known records, the high-contiguous mark, holes
    transactions.py  vend transactions, idempotency keys, token counters (vend.py, outbox.py)
    retention.py   pruning raw records and dead letters
    bus.py         listeners told of each commit

Reads that are not about one meter's registry entry (readings, events, alerts, bills) are
SQL in their own modules (gateway/queries.py, alerts.py, billing.py, vend.py, outbox.py)
through `query()` or `reader()`; writes outside the batch writer go through `write()`.
"""
import contextlib

from prepay.tariff import Tariff

from gateway.aggregate import Rollup
from gateway.storage import ops, retention, sequence
from gateway.storage.bus import Bus
from gateway.storage.database import open_database
from gateway.storage.documents import Documents
from gateway.storage.meters import Registry
from gateway.storage.writer import Writer


def _validate_plan(doc):
    from gateway.billing import Plan   # late, as before: billing's tools may import the store
    Plan(doc)


class Store:
    def __init__(self, path, retention_days=90, utc_offset_min=0, tariffs=None, shared=False):
        """`path`: a SQLite file, or a postgresql:// URL (gateway/storage/database.py).
        shared=True: other processes write the same database (several ingest workers on
        one file; always so on a database server); see gateway/storage/writer.py."""
        self.database = open_database(path)
        self.path = self.database.path
        self.versions = self.database.versions     # schema version of each database file
        self._lock = self.database.lock
        self.retention_s = int(retention_days * 86400)
        self.utc_offset_min = utc_offset_min        # fleet-level day boundaries
        self.shared = shared or self.database.server   # a server is written by many processes
        self.bus = Bus()
        self.registry = Registry(self.database, self.shared, changed=self._meter_changed)
        self._tariffs = Documents(self.database, "tariffs", "tariff", Tariff)
        self._plans = Documents(self.database, "billing_plans", "plan", _validate_plan,
                                field="plan")
        self.rollup = Rollup(self, tariffs)
        self.writer = Writer(self.database, self.registry, self.rollup, self.bus, self.shared)
        self.stats = self.writer.stats

    def _meter_changed(self, meter_id):
        self.rollup.reset_meter(meter_id)

    # -- connections -----------------------------------------------------------------------
    @property
    def db(self):
        """The writer connection (hold `_lock` while using it)."""
        return self.database.writer

    def reader(self):
        return self.database.reader()

    def query(self, sql, args=()):
        return self.database.query(sql, args)

    def listen(self, fn):
        """fn(kind, meter_id, data) after each commit: kind records|events|live|status|dead."""
        self.bus.listen(fn)

    @contextlib.contextmanager
    def write(self, notes=None):
        """`with store.write() as cur:` one IMMEDIATE transaction on the writer connection
        (secrets attached) for modules that own their tables (vend, outbox). The (kind,
        meter, data) tuples the block appends to `notes` go to the listeners after the
        commit."""
        with self.database.transaction() as cur:
            yield cur
        self.bus.notify(notes or ())

    def close(self):
        with self._lock:
            if self.database.writer is None:
                return
            self.registry.persist(self.database.writer.cursor(), force=True)
            self.database.close()

    # -- meters ------------------------------------------------------------------------------
    def register_meter(self, meter_id, **attrs):
        """Add or update a meter (provisioning). An inline tariff document is stored as a
        tariff of its own name (else the meter's)."""
        if isinstance(attrs.get("tariff"), dict):
            doc = attrs["tariff"]
            attrs["tariff"] = self.put_tariff(doc.get("name") or meter_id, doc)["name"]
        return self.registry.register(meter_id, **attrs)

    def register_new_meters(self, meter_ids):
        """Add many new meters with default attributes at once (host_tools/fleetsim.py)."""
        self.registry.register_new(list(meter_ids))

    def remove_meter(self, meter_id):
        return self.registry.remove(meter_id)

    def is_registered(self, meter_id):
        return self.registry.is_registered(meter_id)

    def meter(self, meter_id):
        return self.registry.meter(meter_id)

    def meters(self):
        return self.registry.meters()

    def meters_page(self, q=None, online=None, sort="id", desc=False, limit=None, offset=0):
        return self.registry.page(q, online, sort, desc, limit, offset)

    def secret(self, meter_id):
        return self.registry.secret(meter_id)

    # -- tariffs and billing plans ---------------------------------------------------------------
    def put_tariff(self, name, doc):
        """Create or replace a tariff; prepay.tariff.Tariff validates it (TariffError, a
        ValueError listing every problem). Costs already aggregated keep their old prices."""
        with self._lock:   # the next batch prices with the new tariff
            self._tariffs.put(name, doc)
            self.rollup.reset_meter(None)
        return self.tariffs(name)[0]

    def tariffs(self, name=None):
        """Tariff rows, each with the meters that name it."""
        rows = self._tariffs.get(name)
        for r in rows:
            r["meters"] = [m for m, in self.reader().execute(
                "SELECT id FROM meters WHERE tariff=? AND removed IS NULL ORDER BY id",
                (r["name"],))]
        return rows

    def put_billing_plan(self, name, doc):
        """Create or replace a billing plan; billing.Plan validates it (PlanError)."""
        return self._plans.put(name, doc)

    def billing_plans(self, name=None):
        return self._plans.get(name)

    # -- writes: single operations are one-item batches ----------------------------------------
    def write_batch(self, items):
        """Apply many operations (gateway/storage/ops.py) in one transaction."""
        return self.writer.write_batch(items)

    def set_meter_status(self, meter_id, **fields):
        return self.write_batch([ops.Status(meter_id, fields)])[0]

    def insert_records(self, meter_id, records):
        return self.write_batch([ops.Records(meter_id, records)])[0]

    def dead_letter(self, topic, payload, reason):
        return self.write_batch([ops.DeadLetter(topic, payload, reason)])[0]

    def insert_events(self, meter_id, events):
        return self.write_batch([ops.Events(meter_id, events)])[0]

    def set_live(self, meter_id, tele):
        return self.write_batch([ops.Live(meter_id, tele)])[0]

    def command_result(self, meter_id, res):
        return self.write_batch([ops.CommandResult(meter_id, res)])[0]

    # -- sync bookkeeping ----------------------------------------------------------------------
    def high_contiguous(self, meter_id):
        return self.high_contiguous_many([meter_id]).get(meter_id)

    def high_contiguous_many(self, meter_ids):
        """{meter id: its high-contiguous mark} of the registered ones. Shared, another
        worker may have moved a mark: the table is read, one query per 500 meters (a batch's
        acks asked one a meter: 12 % of a PostgreSQL worker's CPU on backlog batches)."""
        states = self.registry.states
        ms = [m for m in (states.get(i) for i in meter_ids) if m is not None]
        out = {m.id: m.hc for m in ms}
        if self.shared:
            db = self.reader()
            for k in range(0, len(ms), 500):
                chunk = ms[k:k + 500]
                stored = dict(db.execute("SELECT mid, hc FROM meters WHERE mid IN (%s)"
                                         % ",".join("?" * len(chunk)),
                                         [m.mid for m in chunk]).fetchall())
                for m in chunk:
                    out[m.id] = max(m.hc, stored.get(m.mid, m.hc))
        return out

    def pending(self):
        return sequence.pending(self.registry.states.values())

    def missing(self, meter_id, limit=10):
        m = self.registry.states.get(meter_id)
        return [] if m is None else sequence.missing(self.reader(), m, limit)

    # -- retention -------------------------------------------------------------------------------
    def prune(self, now=None):
        return retention.prune(self.database, self.registry, self.retention_s, now)

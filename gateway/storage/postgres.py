"""The gateway's database on a PostgreSQL server (`--db postgresql://...`), with the members
of the SQLite backend (gateway/storage/database.py): `path`, `versions`, `lock`, `writer`,
`reader()`, `query()`, `transaction()`, `close()`, and the batch writer's hooks.

- The gateway's SQL is SQLite's dialect; every statement goes through
  gateway/storage/dialect.py. Cursors look like sqlite3's (execute returns the cursor,
  `rowcount`, `lastrowid`, rows fetched at once), so the modules above do not change.
- One writer connection per process behind `lock`, re-opened when the server went away (the
  statement in flight fails; the next transaction reconnects). Readers borrow connections
  from a psycopg_pool pool (a statement on a dead one is run again on another). `executemany` is pipelined by psycopg.
- Several gateway processes share one database. `transaction()` (vending, the outbox,
  registering) takes one advisory lock for its whole transaction, as SQLite's BEGIN
  IMMEDIATE takes the write lock: a token counter is read and moved by one process at a
  time. The record writer's batch does not: it locks only the meters it writes
  (`claim_meters`), so workers on different meters run in parallel, and a deadlock or
  serialization failure is retried (`retryable`).
- `raw` is partitioned by month of `t` (pg/0001); `prepare_records` creates the partitions a
  batch needs before its transaction, and retention drops whole expired months
  (`drop_expired`) before deleting rows one meter at a time like SQLite.
- The secrets are the tables of schema `sec` (the SQLite backend's attached file).
"""
import calendar
import contextlib
import re
import threading
import time
from decimal import Decimal

import psycopg
from psycopg import errors
from psycopg.adapt import Loader
from psycopg_pool import ConnectionPool

from gateway.storage import dialect, migrate
from gateway.storage.database import Database
from prepay.record import FIELDS

WRITE_LOCK = 0x6761_7465            # advisory lock key of transaction(), "gate"
METER_LOCK_BASE = 0x6D74 << 40      # advisory lock key of meter mid: base + mid (claim_meters)
DDL_LOCK = 0x6464_6C00
_INSERT_INTO = re.compile(r"^\s*INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+([A-Za-z_][\w.]*)", re.I)
# insert_many's statements: INSERT [OR IGNORE] INTO t(c1, c2, ...) VALUES (?, ?, ...) rest
_VALUES_ROW = re.compile(r"^(\s*INSERT\s+(?:OR\s+IGNORE\s+)?INTO\s+([A-Za-z_]\w*)\s*\(([^)]*)\))"
                         r"\s*VALUES\s*\(\s*\?(?:\s*,\s*\?)*\s*\)(.*)$", re.I | re.S)


def redact(url):
    """The URL without its password (for logs and `ps`-visible output)."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", str(url))


class _NumericLoader(Loader):
    """numeric (PostgreSQL's sum/avg of integers) as SQLite returns it: int when whole."""
    def load(self, data):
        d = Decimal(bytes(data).decode())
        return int(d) if d == d.to_integral_value() else float(d)


def _connect(url, autocommit=True):
    conn = psycopg.connect(url, autocommit=autocommit,
                           options="-c search_path=%s" % dialect.SEARCH_PATH)
    conn.adapters.register_loader("numeric", _NumericLoader)
    return conn


class Cursor:
    """sqlite3-like cursor over one psycopg connection (rows are fetched at once)."""

    def __init__(self, owner):
        self._owner = owner
        self.rows, self.rowcount, self.lastrowid, self.description = [], -1, None, None
        self._i = 0

    def execute(self, sql, args=()):
        head = sql.lstrip()[:16].upper()
        if head.startswith("BEGIN"):
            return self._begin(head)
        if head.startswith(("COMMIT", "ROLLBACK")):
            self._owner.end(head.startswith("COMMIT"))
            return self
        q = dialect.to_postgres(sql)
        m = _INSERT_INTO.match(sql)
        want_id = m and m.group(1).lower() in self._owner.database.id_tables \
            and "RETURNING" not in q.upper()
        if want_id:
            q += " RETURNING id"
        params = dialect.args_for(sql, args)   # () too: %% is unescaped only with params
        self.description, self.rowcount, self.rows = self._owner.run(
            lambda c: _fetched(c.execute(q, params)))
        self._i = 0
        if want_id:
            self.lastrowid = self.rows[0][0] if self.rows else None
            self.rows, self.description = [], None
        return self

    def executemany(self, sql, seq):
        q = dialect.to_postgres(sql)
        params = [dialect.args_for(sql, a) for a in seq]
        self.description, self.rowcount, self.rows = self._owner.run(
            lambda c: (c.executemany(q, params), _fetched(c))[1])
        return self

    def run(self, fn):
        """fn(psycopg cursor) on this cursor's connection (the backend's own statements)."""
        return self._owner.run(fn)

    def _begin(self, head):
        self._owner.begin()
        if "IMMEDIATE" in head:   # SQLite's write lock: one such transaction at a time
            self._owner.run(lambda c: c.execute("SELECT pg_advisory_xact_lock(%s)",
                                                (WRITE_LOCK,)))
        return self

    def fetchone(self):
        if self._i < len(self.rows):
            self._i += 1
            return self.rows[self._i - 1]
        return None

    def fetchall(self):
        out, self._i = self.rows[self._i:], len(self.rows)
        return out

    def __iter__(self):
        return iter(self.fetchall())


def _fetched(cur):
    """(description, rowcount, rows) of a psycopg cursor, read while its connection is held."""
    return cur.description, cur.rowcount, cur.fetchall() if cur.description else []


class Connection:
    """The writer: one connection, re-opened after the server went away; a transaction keeps
    it from BEGIN to COMMIT/ROLLBACK."""

    def __init__(self, database):
        self.database = database
        self._conn = None
        self._in_tx = False

    def _get(self):
        if self._conn is None or self._conn.closed or self._conn.broken:
            if self._in_tx:   # the transaction died with the connection
                raise psycopg.OperationalError("connection lost inside a transaction")
            self._conn = _connect(self.database.url)
        return self._conn

    def run(self, fn):
        conn = self._get()
        try:
            return fn(conn.cursor())
        except psycopg.OperationalError:
            if conn.broken or conn.closed:
                self._conn = None
            raise

    def begin(self):
        self.run(lambda c: c.execute("BEGIN"))
        self._in_tx = True

    def end(self, commit):
        self._in_tx = False
        conn = self._conn
        if conn is None or conn.closed or conn.broken:
            self._conn = None
            if commit:
                raise psycopg.OperationalError("connection lost before COMMIT")
            return   # nothing to roll back: the server dropped the transaction
        self.run(lambda c: c.execute("COMMIT" if commit else "ROLLBACK"))

    def cursor(self):
        return Cursor(self)

    def execute(self, sql, args=()):
        return Cursor(self).execute(sql, args)

    def executemany(self, sql, seq):
        return Cursor(self).executemany(sql, seq)

    def close(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _PooledReader:
    """reader(): each statement on a connection borrowed from the pool."""

    def __init__(self, database):
        self.database = database

    def run(self, fn):
        """Once more on another connection when the borrowed one turns out dead (the server
        restarted since it was last used: the pool then drops it). Not checking each
        connection before use saves a round trip per statement."""
        try:
            with self.database.pool.connection() as conn:
                return fn(conn.cursor())
        except psycopg.OperationalError:
            with self.database.pool.connection() as conn:
                return fn(conn.cursor())

    def execute(self, sql, args=()):
        return Cursor(self).execute(sql, args)

    def cursor(self):
        return Cursor(self)

    def begin(self):
        raise ValueError("the reader does not write")

    end = begin


class PgDatabase:
    BEGIN_BATCH = "BEGIN"     # the record writer locks per meter (claim_meters), not globally
    partitioned = True        # raw by month: prepare_records before a batch
    server = True             # always shared: any worker or API process may write

    def __init__(self, url):
        self.url = str(url)
        self.path = self.url
        self.name = redact(self.url)   # what logs and the health endpoint may show
        with contextlib.closing(_connect(self.url)) as conn:
            self.versions = migrate_postgres(conn)
            self.id_tables = {r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.columns WHERE column_name='id'"
                " AND is_identity='YES' AND table_schema='public'")}
        self.lock = threading.RLock()
        self.pool = ConnectionPool(self.url, min_size=1, max_size=8, open=True,
                                   configure=_configure,
                                   kwargs={"autocommit": True,
                                           "options": "-c search_path=" + dialect.SEARCH_PATH},
                                   name="gateway-readers")
        self._reader = _PooledReader(self)
        self.writer = Connection(self)
        self._months = set()   # raw partitions known to exist (month start, epoch s)
        self._staged = {}      # insert_many: statement -> its staging statements

    def reader(self):
        return self._reader

    def query(self, sql, args=()):
        cur = self._reader.execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    def size(self):
        """(database bytes, 0): the server's write-ahead log is not this database's."""
        return self.query("SELECT pg_database_size(current_database()) n")[0]["n"], 0

    # As SQLite's: one transaction on the writer holding the global write lock (the
    # writer's Cursor takes BEGIN IMMEDIATE as the advisory lock, above)
    transaction = Database.transaction

    # -- the record writer's hooks ----------------------------------------------------------
    @staticmethod
    def claim_meters(cur, mids):
        """Inside the batch: lock the batch's meters, so one meter's records are written by
        one worker at a time (its tail, mark and aggregates are read after the other
        worker's commit), then read their marks and tails: three statements for the whole
        batch. -> ({mid: hc}, {mid: tail record or None})"""
        mids = sorted(mids)        # one lock order everywhere: no deadlock between workers
        cur.execute("SELECT count(pg_advisory_xact_lock(?::bigint + u.m)) FROM"
                    " (SELECT m FROM unnest(?::bigint[]) AS m ORDER BY m) u",
                    (METER_LOCK_BASE, mids))
        marks = dict(cur.execute("SELECT mid, hc FROM meters WHERE mid = ANY(?)",
                                 (mids,)).fetchall())
        tails = {mid: None for mid in mids}
        for row in cur.execute(
                "SELECT u.m, r.* FROM unnest(?::bigint[]) AS u(m) CROSS JOIN LATERAL"
                " (SELECT %s FROM raw WHERE raw.mid = u.m ORDER BY seq DESC LIMIT 1) r"
                % ", ".join(FIELDS), (mids,)).fetchall():
            tails[row[0]] = tuple(row[1:])
        return marks, tails

    @staticmethod
    def mark_meters(cur, rows):
        """Database.mark_meters in one statement (the marks as three arrays), not one
        UPDATE per meter: a single-record batch touches a thousand meters."""
        cols = [list(c) for c in zip(*rows)]
        cur.execute("UPDATE meters SET hc=greatest(meters.hc, u.hc), last_seen=greatest("
                    "coalesce(meters.last_seen, 0), u.last_seen) FROM unnest(?::bigint[],"
                    " ?::bigint[], ?::bigint[]) AS u(hc, last_seen, mid) WHERE meters.mid=u.mid",
                    cols)

    def insert_many(self, cur, sql, rows):
        """Many rows in a few statements. `INSERT OR IGNORE` of plain rows (raw, gaps) is
        first tried as one COPY straight into the table inside a savepoint: the writer sends
        only rows it does not have (sequence.fresh), and the table's primary key still
        refuses any duplicate, which rolls the COPY back and takes the staged path below.
        COPY into raw takes about half the server time of the staged INSERT ... SELECT's
        speculative inserts (docs/gateway.md "Bulk writes").

        Staged (every upsert, and the duplicate case): create a temporary staging table
        (once per connection: IF NOT EXISTS), COPY the rows into it, then `INSERT ... SELECT`
        them out of it (SQLite's dialect, its ON CONFLICT clause kept, so idempotency stays a
        database rule). Per-row statements, even pipelined, kept the server parsing and
        planning 100,000 INSERTs per backlog batch, and arrays (unnest) cost more in the
        client than COPY's C row formatter (tests/bench/bench_gateway_ingest.py). The rows
        of an upsert must not repeat a conflict key (`DO UPDATE` refuses to touch a row twice
        in one statement): the writer's are unique by construction."""
        if not rows:
            return
        direct = self._staging(sql)[3]
        if direct is None or not cur.run(lambda c: _copy_or_refuse(c, direct, rows)):
            self.insert_staged(cur, sql, rows)

    def insert_staged(self, cur, sql, rows):
        """insert_many's staged path: COPY into a staging table, INSERT ... SELECT out."""
        create, copy, insert, _ = self._staging(sql)

        def run(c):
            c.execute(create)
            _copy(c, copy, rows)
            c.execute(insert, ())   # with (): the dialect's %% is unescaped
        cur.run(run)

    def _staging(self, sql):
        out = self._staged.get(sql)
        if out is None:
            m = _VALUES_ROW.match(sql)
            if m is None:
                raise ValueError("insert_many takes INSERT INTO t(columns) VALUES (?, ...): %r"
                                 % sql[:200])
            head, table, cols, rest = m.groups()
            stage = "stage_" + table.lower()
            ignore = re.match(r"\s*INSERT\s+OR\s+IGNORE\b", head, re.I) and not rest.strip()
            # the INSERT takes the rows out of the stage as it reads them (DELETE ...
            # RETURNING), so a second call in one transaction never adds them twice; ON
            # COMMIT DELETE ROWS truncates it in place (TRUNCATE made a new file each time)
            out = self._staged[sql] = (
                "CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s) ON COMMIT DELETE ROWS"
                % (stage, table),
                "COPY %s (%s) FROM STDIN" % (stage, cols),
                "WITH s AS (DELETE FROM %s RETURNING %s) " % (stage, cols)
                + dialect.to_postgres("%s SELECT %s FROM s%s" % (head, cols, rest)),
                "COPY %s (%s) FROM STDIN" % (table, cols) if ignore else None)
        return out

    @staticmethod
    def retryable(exc):
        return isinstance(exc, (errors.DeadlockDetected, errors.SerializationFailure))

    def prepare_records(self, times):
        """Create the monthly partitions of raw that records of these times need, before
        the batch's transaction (creating one locks the parent table)."""
        for start, end in _months(times):
            if start in self._months:
                continue
            with self.pool.connection() as conn:
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
                    conn.execute("CREATE TABLE IF NOT EXISTS %s PARTITION OF raw FOR VALUES"
                                 " FROM (%d) TO (%d)" % (_part_name(start), start, end))
            self._months.add(start)

    def drop_expired(self, cutoff):
        """Drop the monthly partitions of raw wholly older than `cutoff` whose records are
        all at or below their meter's high-contiguous mark. -> records dropped."""
        dropped = 0
        for name, end in self._partitions():
            if end > cutoff:
                continue
            with self.pool.connection() as conn:
                above = conn.execute("SELECT 1 FROM %s r JOIN meters m USING(mid)"
                                     " WHERE r.seq > m.hc LIMIT 1" % name).fetchone()
                if above:
                    continue
                with conn.transaction():
                    conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
                    dropped += conn.execute("SELECT count(*) FROM %s" % name).fetchone()[0]
                    conn.execute("DROP TABLE %s" % name)
            self._months.clear()
        return dropped

    def _partitions(self):
        """[(name, upper bound)] of raw's partitions."""
        out = []
        with self.pool.connection() as conn:
            for name, bound in conn.execute(
                    "SELECT c.relname, pg_get_expr(c.relpartbound, c.oid) FROM pg_inherits i"
                    " JOIN pg_class c ON c.oid=i.inhrelid WHERE i.inhparent='raw'::regclass"):
                m = re.search(r"TO \('?(-?\d+)'?\)", bound)
                if m:
                    out.append((name, int(m.group(1))))
        return out

    def close(self):
        with self.lock:
            if self.writer is None:
                return
            self.writer.close()
            self.writer = None
            self.pool.close()


def _copy(c, statement, rows):
    with c.copy(statement) as cp:
        for row in rows:
            cp.write_row(row)


def _copy_or_refuse(c, statement, rows):
    """COPY the rows inside a savepoint. -> False, with nothing written, when one of them is
    stored already (the primary key refused it)."""
    c.execute("SAVEPOINT copy_rows")
    try:
        _copy(c, statement, rows)
    except errors.UniqueViolation:
        c.execute("ROLLBACK TO SAVEPOINT copy_rows")
        return False
    c.execute("RELEASE SAVEPOINT copy_rows")
    return True


def _configure(conn):
    conn.adapters.register_loader("numeric", _NumericLoader)


def _months(times):
    """{(start, end)} epoch seconds of the UTC months these times fall in: every month from
    the first to the last, or, when they are years apart (a clock not yet set), each
    time's own month."""
    t_min, t_max = min(times), max(times)
    if t_max - t_min > 62 * 86400:
        return {_month(t) for t in set(times)}
    out = set()
    t = t_min
    while True:
        start, end = _month(t)
        out.add((start, end))
        if end > t_max:
            return out
        t = end


def _month(t):
    y, m = time.gmtime(t)[:2]
    start = calendar.timegm((y, m, 1, 0, 0, 0))
    y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return start, calendar.timegm((y, m, 1, 0, 0, 0))


def _part_name(start):
    y, m = time.gmtime(start)[:2]
    return ("raw_%04d_%02d" % (y, m)).replace("-", "m")


# -- migrations ------------------------------------------------------------------------------
def migrate_postgres(conn):
    """Bring the database to the latest version of each history (main in schema public,
    secrets in schema sec), as gateway/storage/migrate.py does for SQLite files. Versions
    are rows of `schema_version`; an advisory lock makes concurrent starts apply each once.
    -> {"main": n, "secrets": n}"""
    versions = {}
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (DDL_LOCK,))
        conn.execute(dialect.COMPAT)
        conn.execute("CREATE SCHEMA IF NOT EXISTS sec")
        conn.execute("CREATE TABLE IF NOT EXISTS public.schema_version("
                     "name TEXT PRIMARY KEY, version BIGINT NOT NULL)")
        for name, folder, schema in (("main", migrate.MAIN, "public"),
                                     ("secrets", migrate.SECRETS, "sec")):
            conn.execute("SET LOCAL search_path = %s, %s" % (schema, dialect.SEARCH_PATH))
            row = conn.execute("SELECT version FROM public.schema_version WHERE name=%s",
                               (name,)).fetchone()
            at = row[0] if row else 0
            steps = migrate.migrations(folder)
            if at > len(steps):
                raise migrate.MigrationError("database schema version %d is newer than this"
                                             " gateway's %d" % (at, len(steps)))
            for number, path in steps[at:]:
                for stmt in migrate.postgres_statements(path):
                    try:
                        with conn.transaction():   # a savepoint: the error names the statement
                            conn.execute(stmt)
                    except psycopg.Error as e:
                        raise migrate.MigrationError("%s (PostgreSQL): %s in: %s" % (
                            path, e, stmt[:300])) from e
                at = number
            conn.execute("INSERT INTO public.schema_version(name, version) VALUES (%s, %s)"
                         " ON CONFLICT(name) DO UPDATE SET version=excluded.version",
                         (name, at))
            versions[name] = at
    return versions

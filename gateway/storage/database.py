"""The gateway's database: SQLite in WAL mode, its connections and its migrations.

Two files: the main database (browsable with datasette) and `<db>-secrets` (every meter's
token key, so the browsable file holds none), attached to every connection as `sec`. Both
are created 0600 and migrated to the latest schema version (gateway/storage/migrate.py)
before anything else opens them.

One writer connection sits behind `lock` (the ingest's batches, the API's writes, vending
and the outbox share it); every thread that reads has its own read-only connection, and in
WAL mode readers never wait for the writer. `synchronous=NORMAL` with WAL: a committed
transaction survives a crash of the process.

`open_database(target)` is where a backend is chosen: a file path is SQLite, a
`postgresql://` URL is PostgreSQL (gateway/storage/postgres.py), a class with the same
members: `path`, `versions`, `lock`, `writer`, `reader()`, `query()`, `transaction()`,
`close()`, and the record writer's hooks (`BEGIN_BATCH`, `claim_meters`, `retryable`,
`prepare_records`, `drop_expired`, `insert_many`, `mark_meters`), which here are SQLite's
simple case.
"""
import argparse
import contextlib
import os
import sqlite3
import threading
import time

from gateway.storage import migrate


def is_url(target):
    """A database server's URL (else a SQLite file path)."""
    return str(target).startswith(("postgresql://", "postgres://"))


def target(text):
    """--db's value: a SQLite file path or a postgresql:// URL without a password (argv is
    public through `ps`: libpq reads it from PGPASSWORD or a .pgpass file, PGPASSFILE)."""
    if is_url(text):
        from urllib.parse import urlsplit
        if urlsplit(text).password is not None:
            raise ValueError("the URL holds a password, which `ps` would show: give it in"
                             " PGPASSWORD or a .pgpass file (PGPASSFILE) instead")
    return text


def target_arg(text):
    """target() as an argparse type."""
    try:
        return target(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


def open_database(target):
    if is_url(target):
        from gateway.storage import postgres   # psycopg is loaded only for a server URL
        return postgres.PgDatabase(target)
    return Database(target)


class Database:
    BEGIN_BATCH = "BEGIN IMMEDIATE"   # SQLite has one writer at a time: nothing to add
    server = False                    # other processes share it only when told (shared=True)
    partitioned = False               # no prepare_records before a batch

    def __init__(self, path):
        if str(path) == ":memory:":
            raise ValueError("Store needs a file path (readers use their own connections)")
        self.path = str(path)
        self.name = self.path     # what logs and the health endpoint may show
        self.secrets_path = self.path + "-secrets"
        for f in (self.path, self.secrets_path):
            _owner_only(f)
        self.versions = {"main": self._migrate(self.path, migrate.MAIN, wal=True),
                         "secrets": self._migrate(self.secrets_path, migrate.SECRETS)}
        self.lock = threading.RLock()
        self._local = threading.local()
        self.writer = self.connect()

    @staticmethod
    def _migrate(path, folder, wal=False):
        db = sqlite3.connect(path, isolation_level=None, timeout=30)
        try:
            if wal:   # before the first table, as the gateway always made it
                _wal(db)
            return migrate.migrate(db, folder)
        finally:
            db.close()

    def connect(self, readonly=False):
        db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                             timeout=30)
        _wal(db)
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
            db = self._local.db = self.connect(readonly=True)
        return db

    def query(self, sql, args=()):
        """Rows as dicts, on this thread's read connection."""
        cur = self.reader().execute(sql, args)
        cols = [d[0] for d in cur.description]
        return [dict(zip(cols, row)) for row in cur.fetchall()]

    @contextlib.contextmanager
    def transaction(self):
        """`with database.transaction() as cur:` one IMMEDIATE transaction on the writer
        connection, committed on exit, rolled back on an exception. IMMEDIATE takes SQLite's
        write lock at BEGIN, so what is read inside is not changed by anyone else (another
        thread or another process) before the commit."""
        with self.lock:
            cur = self.writer.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
                cur.execute("COMMIT")
            except BaseException:
                cur.execute("ROLLBACK")
                raise

    def size(self):
        """(database bytes, write-ahead log bytes)."""
        wal = self.path + "-wal"
        return os.path.getsize(self.path), os.path.getsize(wal) if os.path.exists(wal) else 0

    # -- the record writer's hooks (gateway/storage/postgres.py has the real ones) ------
    @staticmethod
    def claim_meters(cur, mids):
        """Inside a shared batch: ({mid: persisted high-contiguous mark}, None) of the
        batch's meters (BEGIN IMMEDIATE already holds the write lock; None: each tail is
        read when needed)."""
        marks = {}
        for i in range(0, len(mids), 500):
            chunk = mids[i:i + 500]
            marks.update(cur.execute("SELECT mid, hc FROM meters WHERE mid IN (%s)"
                                     % ",".join("?" * len(chunk)), chunk).fetchall())
        return marks, None

    @staticmethod
    def retryable(exc):
        return False

    @staticmethod
    def mark_meters(cur, rows):
        """Raise meters' marks and last-seen times: rows of (hc, last_seen, mid), sorted by
        mid (one lock order for every worker). A mark never goes down: a shared database
        may hold a higher one from another worker."""
        cur.executemany("UPDATE meters SET hc=max(hc, ?), last_seen=max(coalesce(last_seen, 0),"
                        " ?) WHERE mid=?", rows)

    @staticmethod
    def insert_many(cur, sql, rows):
        """`INSERT ... VALUES (?, ...)` once per row: in-process SQLite has no round trip to
        save (PostgreSQL sends all rows as one statement)."""
        cur.executemany(sql, rows)

    def prepare_records(self, times):
        """No partitions."""

    def drop_expired(self, cutoff):
        """No partitions: retention deletes rows."""
        return 0

    def close(self):
        with self.lock:
            if self.writer is None:
                return
            self.writer.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            self.writer.close()
            self.writer = None


def _wal(db, timeout_s=30):
    """PRAGMA journal_mode=WAL. Switching a new file to WAL needs it to itself for a moment,
    and SQLite answers "database is locked" at once, without waiting out the connection's
    busy timeout, when another process or thread opens it just then (shared workers
    starting together: 1 of 60 four-thread opens on a loaded machine); so wait here."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            db.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as e:
            if "locked" not in str(e) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _owner_only(path):
    """Create the database file 0600 before SQLite opens it (its -wal and -shm files take
    the same mode), and tighten one made before: the secrets file holds every meter's token
    key, the main one the vended token codes."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        os.fchmod(fd, 0o600)
    finally:
        os.close(fd)
    for side in (path + "-wal", path + "-shm"):
        if os.path.exists(side):
            os.chmod(side, 0o600)

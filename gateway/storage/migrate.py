"""Versioned schema migrations: plain SQL files applied in order, each in its own transaction.

A database file's schema version is its `PRAGMA user_version` (0 for a new file). The
migrations of the main database are gateway/migrations/main/NNNN_name.sql, those of the
secrets file gateway/migrations/secrets/: migration N takes a database from version N-1 to
N. At start, `migrate()` applies every file above the recorded version, in order. Each runs
inside BEGIN IMMEDIATE, which also sets the new version, so a failing migration leaves the
tables and the version as they were (MigrationError names the file and the statement), and
two processes starting at once apply a migration once: the second waits for the write lock
and then finds the version already moved.

A database made before migrations existed (version 0, but with tables) is adopted: the
columns it may lack are added (LEGACY_COLUMNS), then 0001, whose statements are all IF NOT
EXISTS, creates whatever else is missing and stamps it version 1. Its data is kept.

To change the schema, add the next file; never edit one that has shipped (docs/gateway.md
"Storage and migrations").

PostgreSQL (gateway/storage/postgres.py) applies the same history: each file is translated
statement by statement (gateway/storage/dialect.py, ddl_to_postgres), unless the folder's
pg/ holds a file of the same name, which is run instead, whole (what cannot be translated:
triggers, the partitioned `raw`).
"""
import os
import re
import sqlite3

from gateway.storage import dialect

HERE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "migrations")
MAIN = os.path.join(HERE, "main")
SECRETS = os.path.join(HERE, "secrets")
_NAME = re.compile(r"(\d{4})_[a-z0-9_]+\.sql\Z")

# Columns that databases from before migrations may lack, added before 0001 stamps them:
# (table, column, type). dead_letters.size came when oversized payloads began to be cut.
LEGACY_COLUMNS = {MAIN: (("dead_letters", "size", "INTEGER"),), SECRETS: ()}


class MigrationError(Exception):
    pass


def migrations(folder):
    """[(version, path)] of a folder's migrations, in order; numbered 1, 2, ... with no
    gap or repeat (a misnumbered file would otherwise be skipped or applied twice)."""
    found = []
    for name in sorted(os.listdir(folder)):
        if name.endswith(".sql"):
            m = _NAME.match(name)
            if m is None:
                raise MigrationError("%s: a migration is named NNNN_name.sql" % name)
            found.append((int(m.group(1)), os.path.join(folder, name)))
    for want, (version, path) in enumerate(found, 1):
        if version != want:
            raise MigrationError("%s: expected migration %04d next" % (path, want))
    return found


def latest(folder):
    return len(migrations(folder))


def version(db):
    return db.execute("PRAGMA user_version").fetchone()[0]


def statements(sql):
    """Split a script into statements (one transaction needs them one by one: Python's
    executescript commits first). A statement ends at the end of a line; sqlite3 decides
    whether it is complete, so a ';' inside a string, a comment or a trigger body is fine."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            out.append(buf.strip())
            buf = ""
    if buf.strip() and not all(l.strip().startswith("--") or not l.strip()
                               for l in buf.splitlines()):
        raise MigrationError("unterminated statement: %s" % buf.strip()[:200])
    return out


def postgres_statements(path):
    """The PostgreSQL statements of one migration: its pg/ twin whole, or its own
    statements translated (ValueError names what needs a pg/ twin)."""
    twin = os.path.join(os.path.dirname(path), "pg", os.path.basename(path))
    if os.path.exists(twin):
        with open(twin, encoding="utf-8") as f:
            return [f.read()]
    with open(path, encoding="utf-8") as f:
        return [dialect.ddl_to_postgres(s) for s in statements(f.read())]


def migrate(db, folder):
    """Bring `db` (an sqlite3 connection in autocommit mode, isolation_level=None) to the
    latest version of `folder`'s migrations. -> the version it is at."""
    steps = migrations(folder)
    for number, path in steps:
        with open(path, encoding="utf-8") as f:
            sql = f.read()
        db.execute("BEGIN IMMEDIATE")
        try:
            at = version(db)
            if at >= number:          # applied before, or by another process just now
                db.execute("COMMIT")
                continue
            if at < number - 1:
                raise MigrationError("%s: the database is at version %d" % (path, at))
            if number == 1 and _has_tables(db):
                _add_legacy_columns(db, LEGACY_COLUMNS.get(folder, ()))
            for stmt in statements(sql):
                try:
                    db.execute(stmt)
                except sqlite3.Error as e:
                    raise MigrationError("%s: %s in: %s" % (os.path.basename(path), e,
                                                           stmt[:300])) from e
            db.execute("PRAGMA user_version=%d" % number)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
    at = version(db)
    if at > len(steps):   # made by a newer gateway: its tables may mean what this one cannot
        raise MigrationError("database schema version %d is newer than this gateway's %d"
                             % (at, len(steps)))
    return at


def _has_tables(db):
    return db.execute("SELECT 1 FROM sqlite_master WHERE type='table'").fetchone() is not None


def _add_legacy_columns(db, columns):
    for table, column, kind in columns:
        cols = {r[1] for r in db.execute("SELECT * FROM pragma_table_info(?)", (table,))}
        if cols and column not in cols:
            db.execute("ALTER TABLE %s ADD COLUMN %s %s" % (table, column, kind))

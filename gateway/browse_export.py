"""A read-only SQLite snapshot of a PostgreSQL gateway database, for datasette
(gateway/browse.py serves it; datasette reads SQLite files only).

    python -m gateway browse-export --db postgresql://gateway@db.example/gw --out gw.db

The snapshot has the SQLite backend's schema, made by its own migrations
(gateway/migrations/main), so datasette's metadata, canned queries, views and plugin work on
it unchanged. It holds no secret: the secrets schema (`sec`, the token keys) is never read,
and the columns the browser hides (hide_secrets.HIDDEN, the one list) are not even
selected: they are NULL, or '' where the schema says NOT NULL; a table whose primary key is
hidden (the console's sessions) stays empty.

All tables are read in one REPEATABLE READ transaction, so the snapshot is of one moment
while the workers write, and streamed (a server-side cursor, CHUNK rows at a time). It is
written to FILE.tmp, created 0600, and renamed over FILE when complete: a reader never sees
half a snapshot. Run it again (from cron, say) for fresh data and restart the browser, which
keeps the file it opened.
"""
import argparse
import contextlib
import os
import sqlite3
import sys

from gateway.datasette_plugins.hide_secrets import HIDDEN
from gateway.storage import migrate
from gateway.storage.database import is_url, target_arg

CHUNK = 5000


class ExportError(Exception):
    pass


def export(url, out):
    """Write the snapshot of the database at `url` to the file `out`. -> {table: rows}"""
    import psycopg
    from psycopg import sql
    tmp = str(out) + ".tmp"
    with contextlib.suppress(FileNotFoundError):
        os.unlink(tmp)
    os.close(os.open(tmp, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600))
    counts = {}
    try:
        with contextlib.closing(sqlite3.connect(tmp, isolation_level=None)) as lite, \
                psycopg.connect(url) as pg:
            version = migrate.migrate(lite, migrate.MAIN)
            pg.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ   # one moment
            pg.read_only = True
            at = None
            if pg.execute("SELECT to_regclass('public.schema_version')").fetchone()[0]:
                at = pg.execute("SELECT version FROM public.schema_version WHERE name='main'"
                                ).fetchone()
            if at is None or at[0] != version:
                raise ExportError("the database is at schema version %s, this gateway's is %d:"
                                  " start this gateway on it once (it migrates)"
                                  % (at[0] if at else "none", version))
            lite.execute("BEGIN")
            for table in [r[0] for r in lite.execute(
                    "SELECT name FROM sqlite_master WHERE type='table'"
                    " AND name NOT LIKE 'sqlite_%' ORDER BY name")]:
                counts[table] = _copy(pg, lite, table, sql)
            lite.execute("COMMIT")
        os.replace(tmp, out)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return counts


def _copy(pg, lite, table, sql):
    """One table's rows, the hidden columns left out. -> rows copied"""
    cols = lite.execute("SELECT name, \"notnull\", pk FROM pragma_table_info(?)",
                        (table,)).fetchall()
    if any(pk and (table, name) in HIDDEN for name, _, pk in cols):
        return 0
    select = [sql.Identifier(name) if (table, name) not in HIDDEN
              else sql.Literal("" if notnull else None) for name, notnull, _ in cols]
    query = sql.SQL("SELECT {} FROM public.{}").format(sql.SQL(", ").join(select),
                                                       sql.Identifier(table))
    insert = "INSERT INTO %s VALUES (%s)" % (table, ",".join("?" * len(cols)))
    n = 0
    with pg.cursor(name="export_" + table) as cur:   # server-side: CHUNK rows at a time
        cur.itersize = CHUNK
        cur.execute(query)
        while True:
            rows = cur.fetchmany(CHUNK)
            if not rows:
                return n
            lite.executemany(insert, rows)
            n += len(rows)


def main(argv):
    ap = argparse.ArgumentParser(prog="python -m gateway browse-export",
                                 description=__doc__.split("\n")[0])
    ap.add_argument("--db", required=True, type=target_arg,
                    help="the gateway's PostgreSQL URL (its password in PGPASSWORD or .pgpass)")
    ap.add_argument("--out", required=True, help="the SQLite snapshot to write (replaced)")
    a = ap.parse_args(argv)
    if not is_url(a.db):
        ap.error("--db is a SQLite file already: browse it as it is (python -m gateway.browse"
                 " %s)" % a.db)
    if not os.path.isdir(os.path.dirname(os.path.abspath(a.out))):
        ap.error("no directory for %s" % a.out)
    import psycopg
    try:
        counts = export(a.db, a.out)
    except (ExportError, psycopg.Error, OSError) as e:   # OSError: the file cannot be written
        print("browse-export: %s" % e, file=sys.stderr)
        return 1
    print("browse-export: %s, %d rows in %d tables" % (a.out, sum(counts.values()),
                                                        len(counts)), flush=True)
    return 0

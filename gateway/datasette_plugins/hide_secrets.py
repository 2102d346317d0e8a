"""A datasette plugin (loaded from this folder by gateway/browse.py) that keeps secrets out of
the browser for every request, whatever its path: table and row pages, JSON, CSV, facets and
arbitrary SQL all run on connections whose SQLite authorizer reads the HIDDEN columns as NULL
and refuses to attach another database file (the secrets file holds every token key). The
codes are for the REST API, which asks for a key (GET /api/meters/{id}/transactions).

HIDDEN is the one list of the main database's secret columns: gateway/browse_export.py
leaves the same columns out of a PostgreSQL snapshot."""
import sqlite3

from datasette import hookimpl

# (table, column): read as NULL. A vended token code is credit to whoever types it;
# outbox.payload holds token codes and settings updates; an operator's password hash can be
# attacked offline; a session's cookie hash and CSRF token belong to a logged-in browser.
HIDDEN = frozenset({("transactions", "token"), ("outbox", "payload"),
                    ("operators", "password"), ("operator_sessions", "token_hash"),
                    ("operator_sessions", "csrf")})


def authorize(action, arg1, arg2, db_name, trigger):
    if action == sqlite3.SQLITE_READ and (arg1, arg2) in HIDDEN:
        return sqlite3.SQLITE_IGNORE
    if action == sqlite3.SQLITE_ATTACH:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


@hookimpl
def prepare_connection(conn):
    conn.set_authorizer(authorize)

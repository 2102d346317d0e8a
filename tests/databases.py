"""The gateway tests' databases on each backend (the fixtures are in tests/conftest.py).

`Targets(cluster, folder)` hands out Store targets by name: a SQLite file in `folder`, or,
with a cluster (tests/pgcluster.py), a database copied from its migrated template (CREATE
DATABASE ... TEMPLATE is fast). The same name gives the same database, so a test can reopen
it as after a restart. `dump()` and `connect()` reach a database without the gateway (what
an attacker with a copy of it, or a rogue client, would see or do).
"""
import itertools
import sqlite3
import subprocess

TEMPLATE = "gw_template"
_count = itertools.count()


class Targets:
    def __init__(self, cluster, folder):
        self.cluster, self.folder = cluster, folder
        self.made = {}

    def __call__(self, name="gw.db"):
        if name not in self.made:
            if self.cluster is None:
                self.made[name] = str(self.folder / name)
            else:
                self.made[name] = self.cluster.create("t%d" % next(_count), template=TEMPLATE)
        return self.made[name]

    def drop(self):
        """A database per test: drop them, with any connection left open."""
        if self.cluster is not None:
            for url in self.made.values():
                self.cluster.sql('DROP DATABASE IF EXISTS "%s" WITH (FORCE)'
                                 % url.rsplit("/", 1)[1])


def is_pg(target):
    return str(target).startswith("postgresql://")


def connect(target):
    """A plain DB-API connection (autocommit) to the main database, not the gateway's."""
    if is_pg(target):
        import psycopg
        return psycopg.connect(target, autocommit=True)
    return sqlite3.connect(target, isolation_level=None)


def integrity_error(target):
    """The exception class a refused write raises on this backend."""
    if is_pg(target):
        import psycopg
        return psycopg.IntegrityError
    return sqlite3.IntegrityError


def dump(target):
    """Every byte of the database as SQL text: sqlite3's iterdump, or pg_dump (the secrets
    schema included: a copy of the database is a copy of both)."""
    if is_pg(target):
        from pgcluster import pg_bin
        return subprocess.run([pg_bin("pg_dump"), "--no-owner", target], check=True,
                              capture_output=True, text=True).stdout
    with sqlite3.connect(target) as db:
        return "\n".join(db.iterdump())

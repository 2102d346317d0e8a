"""Versioned schema migrations (gateway/storage/migrate.py) on real SQLite files: a new
database, one made by the gateway before migrations existed (built here from a frozen copy of
that schema, with data in every kind of table), a failing migration, and the version shown
in /api/health."""
import json
import os
import shutil
import sqlite3
import threading
from pathlib import Path

import pytest

from gateway import outbox, queries, vend
from gateway.api import make_api
from gateway.service import ApiServer
from gateway.storage import migrate, transactions
from gateway.store import Store
from test_api import KEY, TOKEN_KEY, Client, free_port

LEGACY = (Path(__file__).parent / "legacy_schema.sql").read_text()
T0 = 1_717_200_000 - 1_717_200_000 % 86400       # 2024-06-01 00:00 UTC
TARIFF = {"rates": {"std": 4}}
PLAN = {"energy": {"type": "slabs", "slabs": [{"upto_kwh": 100, "rate": "3.5"}, {"rate": 5}]}}


def schema_of(path):
    """Every table, index and view of a database file, as SQLite keeps their definitions."""
    db = sqlite3.connect(path)
    try:
        return sorted(db.execute("SELECT type, name, sql FROM sqlite_master"
                                 " WHERE name NOT LIKE 'sqlite_%'").fetchall())
    finally:
        db.close()


def legacy_database(path, before_size=False):
    """A database as the gateway made it before migrations (user_version 0), with data.
    before_size: from before dead letters kept their full size (no dead_letters.size)."""
    sql = LEGACY.replace(",\n  size INTEGER);", ");") if before_size else LEGACY
    assert (sql != LEGACY) == before_size
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("ATTACH DATABASE ? AS sec", (str(path) + "-secrets",))
    db.executescript(sql)
    db.execute("BEGIN")
    db.execute("INSERT INTO meters(id, mid, name, grp, tariff, attrs, online, last_seen, fw, hc,"
               " created) VALUES ('m-1', 1, 'Flat 1', 'block-a', 'std',"
               " '{\"billing_plan\": \"slabs\"}', 1, ?, '1.2.3', 10, ?)", (T0 + 780, T0))
    db.execute("INSERT INTO meters(id, mid, grp, created) VALUES ('m-2', 2, 'block-b', ?)", (T0,))
    # m-1: seqs 1..10 and 12..13 (11 is a hole), 10 Wh a minute
    db.executemany("INSERT INTO raw VALUES (1,?,?,?,6000,2300,2600,990,5000,?,0)",
                   [(s, T0 + 60 * s, 10 * s, 900 - s) for s in list(range(1, 11)) + [12, 13]])
    db.execute("INSERT INTO agg30 VALUES (1, ?, 120, 480000, 12, 6000, 'std')", (T0 // 1800,))
    db.execute("INSERT INTO grp30 VALUES ('', ?, 120, 480000, 12)", (T0 // 1800,))
    db.execute("INSERT INTO grp30 VALUES ('block-a', ?, 120, 480000, 12)", (T0 // 1800,))
    db.execute("INSERT INTO events(mid, t, kind, eseq, data, recv) VALUES (1, ?, 'relay', 1,"
               " '{\"kind\": \"relay\", \"closed\": true}', ?)", (T0 + 5, T0 + 6))
    db.execute("INSERT INTO live VALUES (1, ?, '{\"p\": 600.0, \"credit\": 887}')", (T0 + 780,))
    cols = "t, topic, payload, reason" + ("" if before_size else ", size")
    db.execute("INSERT INTO dead_letters(%s) VALUES (%s)" % (cols, "?,?,?,?" + ("" if before_size
                                                                               else ",?")),
               (T0, "pm/x/rec", b"\xff", "bad crc") + (() if before_size else (1,)))
    db.execute("INSERT INTO tariffs VALUES ('std', ?, ?)", (json.dumps(TARIFF), T0))
    db.execute("INSERT INTO billing_plans VALUES ('slabs', ?, ?)", (json.dumps(PLAN), T0))
    db.execute("INSERT INTO transactions(mid, t, kind, amount, token_value, token_count, token,"
               " ref, status) VALUES (1, ?, 'topup', 1000, 10, 5, '123456789', 'r-1', 'sent')",
               (T0 + 100,))
    db.execute("INSERT INTO vend_keys VALUES (1, 'r-1', 1)")
    db.execute("INSERT INTO outbox(mid, kind, cid, payload, tx, status, attempts, created, sent,"
               " retry_at) VALUES (1, 'token', 'tx-1', '{\"code\": \"123456789\"}', 1, 'sent', 1,"
               " ?, ?, ?)", (T0 + 100, T0 + 101, T0 + 131))
    db.execute("INSERT INTO sec.meter_keys VALUES ('m-1', ?, 123456789, 5)", (TOKEN_KEY,))
    db.execute("COMMIT")
    db.close()


def test_a_new_database_is_created_at_the_latest_version(tmp_path):
    s = Store(tmp_path / "new.db")
    latest = {"main": migrate.latest(migrate.MAIN), "secrets": migrate.latest(migrate.SECRETS)}
    assert s.versions == latest and latest["main"] >= 1 and latest["secrets"] >= 1
    s.close()
    for path, key in ((tmp_path / "new.db", "main"), (tmp_path / "new.db-secrets", "secrets")):
        db = sqlite3.connect(path)
        assert db.execute("PRAGMA user_version").fetchone()[0] == latest[key]
        db.close()
    assert Store(tmp_path / "new.db").versions == latest     # opening again changes nothing


def test_migration_0001_is_the_schema_from_before_migrations(tmp_path):
    """Migration 0001 alone makes exactly the tables, indexes and views the gateway made
    before migrations (later migrations build on that)."""
    for folder, name in ((migrate.MAIN, "new.db"), (migrate.SECRETS, "new.db-secrets")):
        db = sqlite3.connect(tmp_path / name)
        for stmt in migrate.statements(Path(migrate.migrations(folder)[0][1]).read_text()):
            db.execute(stmt)
        db.commit()
        db.close()
    db = sqlite3.connect(tmp_path / "old.db")
    db.execute("ATTACH DATABASE ? AS sec", (str(tmp_path / "old.db-secrets"),))
    db.executescript(LEGACY)
    db.close()
    assert schema_of(tmp_path / "new.db") == schema_of(tmp_path / "old.db")
    assert schema_of(tmp_path / "new.db-secrets") == schema_of(tmp_path / "old.db-secrets")


@pytest.mark.parametrize("before_size", [False, True], ids=["today", "before-dead-letter-size"])
def test_a_database_from_before_migrations_is_upgraded_with_its_data(tmp_path, before_size):
    path = tmp_path / "gw.db"
    legacy_database(path, before_size)
    s = Store(path)
    assert s.versions == {"main": migrate.latest(migrate.MAIN),
                          "secrets": migrate.latest(migrate.SECRETS)}
    # the registry, its state and secrets
    m = s.meter("m-1")
    assert (m["name"], m["group"], m["tariff"], m["billing_plan"], m["fw"], m["online"]) == \
        ("Flat 1", "block-a", "std", "slabs", "1.2.3", True)
    assert s.high_contiguous("m-1") == 10 and s.missing("m-1") == [(11, 11)]
    assert s.secret("m-1") == (TOKEN_KEY, 123456789)
    assert [x["id"] for x in s.meters()] == ["m-1", "m-2"]
    # documents
    assert s.tariffs("std")[0]["spec"] == TARIFF and s.tariffs("std")[0]["meters"] == ["m-1"]
    assert s.billing_plans("slabs")[0]["plan"] == PLAN
    # the read side
    day = queries.meter_energy(s, "m-1", T0, T0 + 86400, "day")
    assert [(b["wh"], b["records"]) for b in day] == [(120, 12)]
    assert [r["seq"] for r in queries.raw_readings(s, "m-1", T0, T0 + 3600)[0]] == \
        list(range(1, 11)) + [12, 13]
    assert [e["kind"] for e in queries.events(s, "m-1")] == ["relay"]
    tx = transactions.for_meter(s, "m-1")
    assert [(t["id"], t["status"], t["idempotency_key"], t["attempts"]) for t in tx] == \
        [(1, "sent", "r-1", 1)]
    assert [(c["cid"], c["status"]) for c in outbox.commands(s, "m-1")] == [("tx-1", "sent")]
    dead = s.query("SELECT reason, coalesce(size, length(payload)) n FROM dead_letters")
    assert dead == [{"reason": "bad crc", "n": 1}]
    # and writes carry on from it: the hole filled, duplicates known, the token count kept
    rows = s.query("SELECT * FROM raw WHERE mid=1 ORDER BY seq")
    recs = [tuple(r[k] for k in ("seq", "t", "wh", "avg_dw", "v_dv", "i_ma", "pf_m", "hz_c",
                                  "credit", "flags")) for r in rows]
    hole = (11, T0 + 660, 110) + recs[0][3:]
    assert s.insert_records("m-1", recs + [hole]) == 1
    assert s.high_contiguous("m-1") == 13 and s.missing("m-1") == []
    new, created = vend.topup(s, "m-1", 500, key="r-2")
    assert created and new["token_count"] > 5
    again, created = vend.topup(s, "m-1", 1000, key="r-1")    # the old key still vends once
    assert not created and again["id"] == 1
    s.close()


def test_the_upgraded_database_answers_over_the_api(tmp_path):
    """Every endpoint that reads the database answers from the upgraded one, and
    /api/health shows its schema version."""
    legacy_database(tmp_path / "gw.db")
    store = Store(tmp_path / "gw.db")
    srv = ApiServer(make_api(store, None, [KEY]), "127.0.0.1", free_port()).start()
    try:
        c = Client(srv.url)
        st, h = c.get("/api/health")
        assert st == 200 and h["database"]["schema_version"] == store.versions == {
            "main": migrate.latest(migrate.MAIN), "secrets": migrate.latest(migrate.SECRETS)}
        span = "from=%d&to=%d" % (T0, T0 + 86400)
        for path in ("/api/meters", "/api/meters/m-1", "/api/meters/m-1/readings?" + span,
                     "/api/meters/m-1/tou?" + span, "/api/groups/block-a/readings?" + span,
                     "/api/fleet/readings?" + span, "/api/fleet/top?" + span,
                     "/api/meters/m-1/realtime", "/api/meters/m-1/credit",
                     "/api/meters/m-1/events", "/api/events", "/api/alerts",
                     "/api/dead-letters", "/api/tariffs", "/api/tariffs/std",
                     "/api/billing/plans", "/api/billing/plans/slabs",
                     "/api/meters/m-1/bill?period=2024-06", "/metrics"):
            st, body = c.get(path)
            assert st == 200, (path, body)
        for path in ("/api/meters/m-1/transactions", "/api/meters/m-1/commands"):
            st, body = c.call("GET", path, key=KEY)
            assert st == 200, (path, body)
        assert c.get("/api/meters/m-1/readings?" + span)[1]["total_wh"] == 120
    finally:
        srv.stop()
        store.close()


def _folder(tmp_path, extra):
    """The real main migrations plus `extra` {file name: sql}."""
    folder = tmp_path / "migrations"
    shutil.copytree(migrate.MAIN, folder)
    for name, sql in extra.items():
        (folder / name).write_text(sql)
    return str(folder)


def _connect(path):
    return sqlite3.connect(path, isolation_level=None)


def test_migrations_apply_in_order_each_once(tmp_path):
    shipped = migrate.latest(migrate.MAIN)   # the test's own two follow the shipped ones
    folder = _folder(tmp_path, {
        "%04d_notes.sql" % (shipped + 1): "-- a table; and a comment with ';' in it\n"
                          "CREATE TABLE notes(id INTEGER PRIMARY KEY,\n"
                          "  text TEXT NOT NULL DEFAULT 'a;b');\n"
                          "INSERT INTO notes(text) VALUES ('x;\ny');\n",
        "%04d_notes_index.sql" % (shipped + 2): "CREATE INDEX notes_text ON notes(text);\n"
                                "CREATE TRIGGER notes_upper AFTER INSERT ON notes BEGIN\n"
                                "  UPDATE notes SET text=upper(text) WHERE id=new.id;\n"
                                "END;\n"})
    db = _connect(tmp_path / "m.db")
    assert migrate.migrate(db, migrate.MAIN) == shipped
    assert migrate.migrate(db, folder) == shipped + 2   # only the two new ones run
    assert migrate.migrate(db, folder) == shipped + 2   # nothing left to do
    assert db.execute("SELECT text FROM notes").fetchall() == [("x;\ny",)]
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name='notes_text'").fetchone()
    db.execute("INSERT INTO notes(text) VALUES ('z')")      # the trigger, semicolons and all
    assert db.execute("SELECT text FROM notes ORDER BY id").fetchall() == [("x;\ny",), ("Z",)]


def test_an_unterminated_statement_is_refused():
    assert migrate.statements("-- only a comment\n") == []
    with pytest.raises(migrate.MigrationError, match="unterminated statement: CREATE TABLE t"):
        migrate.statements("CREATE TABLE s(x);\nCREATE TABLE t(x)\n")


def test_a_failing_migration_rolls_back_and_keeps_the_version(tmp_path):
    shipped = migrate.latest(migrate.MAIN)
    broken = "%04d_broken.sql" % (shipped + 1)
    folder = _folder(tmp_path, {broken: "CREATE TABLE half(x);\n"
                                        "ALTER TABLE nowhere ADD COLUMN y INTEGER;\n"})
    path = tmp_path / "f.db"
    legacy_database(path)
    db = _connect(path)
    assert migrate.migrate(db, migrate.MAIN) == shipped
    with pytest.raises(migrate.MigrationError) as e:
        migrate.migrate(db, folder)
    assert broken in str(e.value) and "no such table: nowhere" in str(e.value)
    assert "ALTER TABLE nowhere" in str(e.value)
    assert migrate.version(db) == shipped and not db.in_transaction
    assert db.execute("SELECT 1 FROM sqlite_master WHERE name='half'").fetchone() is None
    assert db.execute("SELECT count(*) FROM raw").fetchone()[0] == 12      # data untouched
    db.close()
    assert Store(path).versions["main"] == shipped     # and the gateway still opens it


def test_a_failing_first_migration_leaves_a_legacy_database_unstamped(tmp_path):
    """Adoption is one transaction too: 0001 failing on an old database adds nothing."""
    folder = tmp_path / "bad"
    folder.mkdir()
    (folder / "0001_initial.sql").write_text(
        Path(migrate.MAIN, "0001_initial.sql").read_text() + "SELECT nothing FROM nowhere;\n")
    path = tmp_path / "old.db"
    legacy_database(path, before_size=True)
    db = _connect(path)
    with pytest.raises(migrate.MigrationError, match="0001_initial.sql"):
        migrate.migrate(db, str(folder))
    assert migrate.version(db) == 0
    assert "size" not in {r[1] for r in db.execute("PRAGMA table_info(dead_letters)")}


def test_badly_numbered_or_newer_databases_are_refused(tmp_path):
    shipped = migrate.latest(migrate.MAIN)
    skips = "%04d_skips.sql" % (shipped + 2)
    folder = _folder(tmp_path, {skips: "SELECT 1;\n"})
    db = _connect(tmp_path / "n.db")
    with pytest.raises(migrate.MigrationError, match="expected migration %04d" % (shipped + 1)):
        migrate.migrate(db, folder)
    os.remove(os.path.join(folder, skips))
    (tmp_path / "migrations" / "2_short.sql").write_text("SELECT 1;\n")
    with pytest.raises(migrate.MigrationError, match="NNNN_name.sql"):
        migrate.migrate(db, folder)
    db.execute("PRAGMA user_version=99")      # made by a newer gateway
    with pytest.raises(migrate.MigrationError, match="version 99 is newer"):
        migrate.migrate(db, migrate.MAIN)


def test_workers_opening_a_new_database_at_once_migrate_it_once(tmp_path):
    """Shared-database workers start together: each migration runs once, under the lock."""
    path = tmp_path / "shared.db"
    versions, errors = [], []

    def open_store():
        try:
            s = Store(path, shared=True)
            versions.append(s.versions["main"])
            s.close()
        except Exception as e:  # noqa: collected for the assertion
            errors.append(e)
    threads = [threading.Thread(target=open_store) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and versions == [migrate.latest(migrate.MAIN)] * 4

"""datasette over the gateway database: started for real, queried over HTTP, read-only. On
PostgreSQL (`module_db`, tests/conftest.py) it serves the snapshot `python -m gateway
browse-export` writes (gateway/browse_export.py): the same pages, queries and hidden
secrets, from the same data."""
import json
import os
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from gateway import browse, vend
from gateway.console import accounts
from gateway.store import Store
from broker import free_port
from databases import TEMPLATE
from gateway_process import REPO
from waits import wait_until

NOW = int(time.time())
T0 = NOW - NOW % 1800 - 2 * 86400


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


KEY = "ab" * 16
OPERATOR_PW = "operator-password-1"


def export(url, out):
    return subprocess.run([sys.executable, "-m", "gateway", "browse-export", "--db", url,
                           "--out", str(out)], cwd=str(REPO), capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def ds(tmp_path_factory, module_db, backend):
    """(datasette's base URL, the store, a vended top-up, a console session): what the
    browser must show, and the secrets it must not."""
    d = tmp_path_factory.mktemp("browse")
    path = d / "fleet.db"
    target = module_db() if backend == "postgresql" else path
    s = Store(target)
    for i, (rate, credit) in enumerate([(10, 90000), (30, 1200), (20, 40000)]):
        mid = "m-%d" % (i + 1)
        s.register_meter(mid, name="Flat %d" % (i + 1), token_key=KEY)
        s.insert_records(mid, [(k + 1, T0 + 60 * k, rate * k, 6000, 2300, 2000, 990, 5000, credit, 0)
                               for k in range(600)])
    s.set_meter_status("m-1", online=True)
    s.set_meter_status("m-2", online=True)
    tx, _ = vend.topup(s, "m-1", 1000)   # (transaction, created)
    accounts.add(s, "root", "admin", OPERATOR_PW)
    session = accounts.login(s, "root", OPERATOR_PW)
    s.close()
    s = Store(target)   # the gateway keeps writing while datasette reads (WAL)
    port = free_port()
    argv = browse.command(path, port) if backend == "sqlite" else [   # exports, then serves
        sys.executable, "-m", "gateway.browse", target, "--snapshot", str(path), "--port",
        str(port)]
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                            cwd=str(REPO))
    base = "http://127.0.0.1:%d/fleet" % port
    if not wait_until(lambda: proc.poll() is not None
                      or urllib.request.urlopen(base + ".json", timeout=2).read(), 30,
                      errors=(OSError,)) or proc.poll() is not None:
        proc.kill()
        pytest.fail("datasette did not start: %s" % proc.stderr.read().decode()[-2000:])
    yield base, s, tx, session
    proc.terminate()
    proc.wait(10)
    s.close()


def rows(base, path, **params):
    st, body = get(base + path + "?" + urllib.parse.urlencode(dict(params, _shape="objects")))
    assert st == 200, body
    return body["rows"]


def test_canned_queries(ds):
    base = ds[0]
    top = rows(base, "/top_consumers.json", days=7)
    assert [(r["meter"], r["wh"]) for r in top] == [("m-2", 30 * 599), ("m-3", 20 * 599),
                                                     ("m-1", 10 * 599)]
    assert [r["meter"] for r in rows(base, "/meters_offline.json", minutes=15)] == ["m-3"]
    low = rows(base, "/low_credit.json", level=5000)
    assert [(r["meter"], r["credit"]) for r in low] == [("m-2", 1200)]
    daily = rows(base, "/daily_totals.json", days=7)
    assert sum(r["wh"] for r in daily) == 60 * 599 and sum(r["records"] for r in daily) == 1800
    assert sum(r["wh"] for r in rows(base, "/meter_daily.json", meter="m-1")) == 5990


def test_tables_views_and_metadata(ds):
    base = ds[0]
    st, body = get(base + ".json")
    tables = {t["name"]: t for t in body["tables"]}
    assert {"meters", "raw", "agg30", "grp30", "events", "dead_letters", "transactions"} <= set(tables)
    assert "meter_keys" not in tables
    assert tables["raw"]["count"] == 1800
    assert len(rows(base, "/readings.json", meter="m-1", _size=5)) == 5
    st, meta = get(base.rsplit("/", 1)[0] + "/-/metadata.json")
    assert "top_consumers" in meta["databases"]["fleet"]["queries"]


def test_sees_new_writes(ds, backend):
    """On SQLite at once (WAL); a PostgreSQL snapshot is of the moment it was exported."""
    base, store = ds[:2]
    store.insert_records("m-3", [(601, T0 + 36000, 20 * 600, 6000, 2300, 2000, 990, 5000, 0, 0)])
    got = rows(base, "/raw.json", _where="seq=601")
    assert [r["wh"] for r in got] == ([12000] if backend == "sqlite" else [])


@pytest.mark.parametrize("sql", [
    "DELETE FROM meters",
    "UPDATE meters SET name='x'",
    "INSERT INTO tariffs VALUES ('x', '{}', 0)",
    "SELECT * FROM sec.meter_keys",
])
def test_read_only(ds, sql):
    base, store = ds[:2]
    st, body = get(base + ".json?" + urllib.parse.urlencode({"sql": sql}))
    assert st >= 400 and body["ok"] is False
    assert len(store.meters()) == 3


def fetch(url):
    """(status, body text) of any datasette page: HTML, JSON or CSV."""
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def test_token_codes_and_keys_never_reach_the_browser(ds):
    """Vended token codes (credit to whoever types them) and token keys are hidden on every
    path anyone can reach without a key: table and row pages, JSON, CSV, arbitrary SQL."""
    base, store, tx = ds[:3]
    code, key = tx["token"], KEY
    root = base.rsplit("/", 1)[0]
    sqls = ["select token from transactions", "select * from transactions",
            "select group_concat(token) from transactions", "select substr(token, 1, 5) || "
            "substr(token, 6) from transactions", "select json_object('t', token) from transactions",
            "select * from (select token as x from transactions)",
            "attach database 'fleet.db-secrets' as s", "select * from sec.meter_keys",
            "select * from pragma_table_info('meter_keys')"]
    pages = ["/transactions", "/transactions.json", "/transactions.json?_shape=objects",
             "/transactions.csv", "/transactions/%d" % tx["id"], "/transactions/%d.json" % tx["id"],
             "/transactions.json?_facet=token", "/meters.json"] + ["?" + urllib.parse.urlencode({"sql": q}) for q in sqls] + \
        [".json?" + urllib.parse.urlencode({"sql": q}) for q in sqls]
    seen = {}
    for p in pages:
        st, text = fetch(base + p)
        assert code not in text and key not in text, p
        seen[p] = st
    # nor can a query that names the code find out whether it exists (it is echoed, no rows)
    for p in ["/transactions.json?token__exact=" + code, "/transactions.json?_where=token>0",
              ".json?" + urllib.parse.urlencode({
                  "sql": "select id from transactions where token = '%s'" % code}),
              ".json?" + urllib.parse.urlencode({
                  "sql": "select id from transactions where token like '%' or token is not null"})]:
        assert rows(base, p.split("?")[0], **dict(urllib.parse.parse_qsl(p.split("?")[1]))) == [], p
    for p in ("/fleet-secrets", "/fleet-secrets.json", "/fleet-secrets/meter_keys.json"):
        st, text = fetch(root + p)
        assert st == 404 and key not in text
    # the pages still work: the codes read as NULL, the rest of the row is there
    assert seen["/transactions.json"] == 200
    got = rows(base, "/transactions.json")
    assert [(r["id"], r["amount"], r["token"]) for r in got] == [(tx["id"], 1000, None)]
    assert rows(base, ".json", sql="select token, amount from transactions") == \
        [{"token": None, "amount": 1000}]


def test_operator_passwords_and_sessions_never_reach_the_browser(ds):
    base, store, _, session = ds
    secrets = [store.query("SELECT password FROM operators")[0]["password"],
               session["token"], session["csrf"]] + [
        r["token_hash"] for r in store.query("SELECT token_hash FROM operator_sessions")]
    pages = ["/operators.json", "/operators.csv", "/operator_sessions.json",
             "/operators/root.json", ".json?" + urllib.parse.urlencode(
                 {"sql": "select * from operators, operator_sessions"})]
    for p in pages:
        st, text = fetch(base + p)
        assert st == 200 and not any(x in text for x in secrets), p
    (op,) = rows(base, "/operators.json")
    assert (op["name"], op["role"], op["password"]) == ("root", "admin", None)


@pytest.mark.parametrize("backend", ["postgresql"])
def test_the_snapshot_has_the_sqlite_schema_and_no_secret(db, tmp_path):
    """The file browse-export writes: the SQLite backend's schema exactly, every row, and
    not one secret byte (token key, token code, password hash, session); 0600, and no
    secrets file beside it."""
    store = Store(db())
    store.register_meter("m-1", token_key=KEY)
    store.insert_records("m-1", [(k + 1, T0 + 60 * k, 10 * k, 0, 2300, 0, 990, 5000, 100, 0)
                                 for k in range(50)])
    tx, _ = vend.topup(store, "m-1", 2000)
    accounts.add(store, "root", "admin", OPERATOR_PW)
    session = accounts.login(store, "root", OPERATOR_PW)
    secrets = [KEY, tx["token"], session["token"], session["csrf"],
               store.query("SELECT password FROM operators")[0]["password"]] + [
        r["token_hash"] for r in store.query("SELECT token_hash FROM operator_sessions")]
    out = tmp_path / "snap.db"
    done = export(db(), out)
    assert done.returncode == 0 and "snap.db" in done.stdout, done.stderr
    assert sorted(os.listdir(tmp_path)) == ["snap.db"] and out.stat().st_mode & 0o777 == 0o600
    raw = out.read_bytes()
    for x in secrets:
        assert x.encode() not in raw
    schema = "SELECT type, name, sql FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' ORDER BY name"
    Store(tmp_path / "ref.db").close()                   # the SQLite backend's own schema
    with sqlite3.connect(tmp_path / "ref.db") as ref, sqlite3.connect(out) as snap:
        assert snap.execute(schema).fetchall() == ref.execute(schema).fetchall()
        assert snap.execute("SELECT count(*), max(wh) FROM raw").fetchone() == (50, 490)
        assert snap.execute("SELECT id, amount, token FROM transactions").fetchall() == \
            [(tx["id"], 2000, "")]                        # NOT NULL: '' (datasette: NULL)
        assert snap.execute("SELECT count(*) FROM operator_sessions").fetchone() == (0,)
        assert snap.execute("SELECT name, password FROM operators").fetchall() == [("root", "")]
    store.close()


def test_browse_export_refuses_what_it_cannot_export(tmp_path, pg_cluster):
    bad = pg_cluster.create("browse_empty")   # no gateway ever ran on it
    good = pg_cluster.create("browse_good", template=TEMPLATE)
    try:
        for url, code, msg in (
                (str(tmp_path / "g.db"), 2, "a SQLite file already"),
                ("postgresql://gw:pw@127.0.0.1:5432/gw", 2, "PGPASSWORD or a .pgpass file"),
                (bad, 1, "schema version none"),
                ("postgresql://postgres@127.0.0.1:%d/gw" % free_port(), 1, "connection")):
            done = export(url, tmp_path / "out.db")
            assert done.returncode == code and msg in done.stderr, (url, done.stderr)
            assert os.listdir(tmp_path) == []             # nothing half-written left
        (tmp_path / "a-dir").mkdir()                      # a snapshot that cannot be written
        done = export(good, tmp_path / "a-dir")
        assert done.returncode == 1 and "browse-export: " in done.stderr, done.stderr
        assert "Traceback" not in done.stderr and os.listdir(tmp_path) == ["a-dir"]
    finally:
        for name in ("browse_empty", "browse_good"):
            pg_cluster.sql('DROP DATABASE "%s"' % name)


def test_browse_on_postgresql_exports_then_serves_and_checks_its_options(capsys, tmp_path):
    with pytest.raises(SystemExit) as e:
        browse.main([str(tmp_path / "g.db"), "--snapshot", str(tmp_path / "s.db")])
    assert e.value.code == 2 and "--snapshot is for a PostgreSQL URL" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:
        browse.main(["postgresql://gw:pw@db.example/gw"])
    assert e.value.code == 2 and "PGPASSWORD" in capsys.readouterr().err
    with pytest.raises(SystemExit) as e:   # the export's error, and no datasette
        browse.main(["postgresql://postgres@127.0.0.1:%d/gw" % free_port(),
                     "--snapshot", str(tmp_path / "s.db")])
    assert e.value.code == 1 and "browse-export: " in capsys.readouterr().err


def test_daily_totals_are_local_days_like_the_bills(tmp_path):
    """An hour at 20:00 UTC is the next day at UTC+05:30: the canned query says so."""
    import sqlite3
    s = Store(tmp_path / "g.db")
    s.close()
    db = sqlite3.connect(tmp_path / "g.db")
    day0 = 1_717_200_000 - 1_717_200_000 % 86400    # 2024-06-01 00:00 UTC
    db.execute("INSERT INTO grp30(grp, slot, wh, cost_um, n) VALUES ('', ?, 100, 0, 1)",
               ((day0 + 20 * 3600) // 1800,))
    sql = lambda off: browse.metadata_for(tmp_path / "g.db", off)["databases"]["g"][
        "queries"]["daily_totals"]["sql"].replace(
            "strftime('%s', 'now')", str(day0 + 86400)).replace(":days", "7")
    utc_day = db.execute(sql(0)).fetchone()[0]
    local_day = db.execute(sql(330)).fetchone()[0]
    assert (utc_day, local_day) == ("2024-06-01", "2024-06-02")
    assert "UTC+05:30" in browse.metadata_for(tmp_path / "g.db", 330)["databases"]["g"][
        "queries"]["daily_totals"]["description"]

"""datasette over the gateway database: started for real, queried over HTTP, read-only."""
import json
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import pytest

from gateway import browse
from gateway.store import Store
from broker import free_port

NOW = int(time.time())
T0 = NOW - NOW % 1800 - 2 * 86400


def get(url):
    try:
        with urllib.request.urlopen(url, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


@pytest.fixture(scope="module")
def ds(tmp_path_factory):
    d = tmp_path_factory.mktemp("browse")
    path = d / "fleet.db"
    s = Store(path)
    for i, (rate, credit) in enumerate([(10, 90000), (30, 1200), (20, 40000)]):
        mid = "m-%d" % (i + 1)
        s.register_meter(mid, name="Flat %d" % (i + 1), token_key="ab" * 16)
        s.insert_records(mid, [(k + 1, T0 + 60 * k, rate * k, 6000, 2300, 2000, 990, 5000, credit, 0)
                               for k in range(600)])
    s.set_meter_status("m-1", online=True)
    s.set_meter_status("m-2", online=True)
    s.close()
    s = Store(path)   # the gateway keeps writing while datasette reads (WAL)
    port = free_port()
    proc = subprocess.Popen(browse.command(path, port), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    base = "http://127.0.0.1:%d/fleet" % port
    end = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(base + ".json", timeout=2).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > end:
                proc.kill()
                pytest.fail("datasette did not start: %s" % proc.stderr.read().decode()[-2000:])
            time.sleep(0.2)
    yield base, s
    proc.terminate()
    proc.wait(10)
    s.close()


def rows(base, path, **params):
    st, body = get(base + path + "?" + urllib.parse.urlencode(dict(params, _shape="objects")))
    assert st == 200, body
    return body["rows"]


def test_canned_queries(ds):
    base, _ = ds
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
    base, _ = ds
    st, body = get(base + ".json")
    tables = {t["name"]: t for t in body["tables"]}
    assert {"meters", "raw", "agg30", "grp30", "events", "dead_letters", "transactions"} <= set(tables)
    assert "meter_keys" not in tables
    assert tables["raw"]["count"] == 1800
    assert len(rows(base, "/readings.json", meter="m-1", _size=5)) == 5
    st, meta = get(base.rsplit("/", 1)[0] + "/-/metadata.json")
    assert "top_consumers" in meta["databases"]["fleet"]["queries"]


def test_sees_new_writes(ds):
    base, store = ds
    store.insert_records("m-3", [(601, T0 + 36000, 20 * 600, 6000, 2300, 2000, 990, 5000, 0, 0)])
    assert rows(base, "/raw.json", _where="seq=601")[0]["wh"] == 12000


@pytest.mark.parametrize("sql", [
    "DELETE FROM meters",
    "UPDATE meters SET name='x'",
    "INSERT INTO tariffs VALUES ('x', '{}', 0)",
    "SELECT * FROM sec.meter_keys",
])
def test_read_only(ds, sql):
    base, store = ds
    st, body = get(base + ".json?" + urllib.parse.urlencode({"sql": sql}))
    assert st >= 400 and body["ok"] is False
    assert len(store.meters()) == 3

"""Stateless ingest workers on PostgreSQL, under faults, with real parts: meters running the
real firmware (host_tools/fleet.py), real mosquitto with a shared subscription, two
`python -m gateway --share` processes on one PostgreSQL (tests/pgcluster.py).

The database server is killed (SIGKILL) mid-ingest and started again: the workers
reconnect, the meters replay what was not acknowledged. Then one worker is killed: the
other carries every meter. The top-ups go through a third process that only serves the API
(`--api-only`). At the end every journaled record is stored exactly once, with
no hole, and each meter's aggregated energy is exactly its register's rise (nothing doubled
by two workers seeing one meter, nothing lost).
"""
import json
import time
import urllib.request

import pytest

from broker import Broker, free_port
from gateway_process import GatewayProcess
from pgcluster import Cluster
from test_sync_e2e import journal_records
from waits import wait_until
from gateway.store import Store
from host_tools.fleet import Fleet
from prepay import record

SPEED = 600                                   # ten one-minute records a real second
EPOCH = int(time.time()) // 3600 * 3600 - 86400
API_KEY = "k-workers"


@pytest.fixture
def cluster():
    c = Cluster().start()
    yield c
    c.remove()


def topup(api, meter_id):
    req = urllib.request.Request(api + "/api/meters/%s/topup" % meter_id, method="POST",
                                 data=json.dumps({"amount": 50000}).encode(),
                                 headers={"X-API-Key": API_KEY,
                                          "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        assert r.status == 201


def health(url):
    with urllib.request.urlopen(url + "/api/health", timeout=10) as r:
        return json.loads(r.read())


def energy(store, meter_id):
    return store.query("SELECT coalesce(max(wh), 0) wh FROM raw JOIN meters USING(mid)"
                       " WHERE id=?", (meter_id,))[0]["wh"]


def marks(store, fleet):
    return {m.id: store.high_contiguous(m.id) for m in fleet}


def test_database_crash_and_worker_loss(tmp_path, cluster):
    url = cluster.create("gw")
    store = Store(url)
    port = free_port()
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=3, speed=SPEED, store=store,
                  epoch=EPOCH, config={"mqtt": {"tele_s": 600}})
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    user, password = fleet.gateway
    workers = [GatewayProcess(tmp_path / ("w%d" % k), broker, password, user=user, db=url,
                              keys=[API_KEY], extra=["--share", "workers", "--no-ha-discovery"])
               for k in range(2)]
    api = GatewayProcess(tmp_path / "api", broker, password, user=user, db=url, keys=[API_KEY],
                         extra=["--api-only", "--no-ha-discovery"])
    try:
        for w in workers + [api]:
            w.start()
        fleet.start()
        for m in fleet:   # credit, through the API process: the relay closes, energy flows
            topup(api.url, m.id)
        assert wait_until(lambda: all(energy(store, m.id) > 0 for m in fleet), 60), \
            [m.console()[-800:] for m in fleet]
        assert wait_until(lambda: all(v >= 20 for v in marks(store, fleet).values()), 60), \
            marks(store, fleet)

        # the database server crashes mid-ingest and comes back 3 s later
        cluster.kill()
        time.sleep(3)
        cluster.start()
        before = marks(store, fleet)
        assert wait_until(lambda: all(v > before[k] + 20 for k, v in
                                      marks(store, fleet).items()), 60), (before, [
                                          w.log()[-1500:] for w in workers])

        # one worker dies: the other carries every meter
        workers[0].proc.kill()
        workers[0].proc.wait()
        before = marks(store, fleet)
        assert wait_until(lambda: all(v > before[k] + 20 for k, v in
                                      marks(store, fleet).items()), 60), (before,
                                                                          workers[1].log()[-1500:])
        # every record journaled so far reaches the database (the meters write on meanwhile)
        upto = {m.id: max(journal_records(m.root)) for m in fleet}
        assert wait_until(lambda: all(store.high_contiguous(k) >= v for k, v in upto.items()),
                          60), (upto, marks(store, fleet))
        fleet.stop()
        time.sleep(1)   # the last records in flight are stored
        stats = [health(w.url)["broker"]["stats"] for w in (workers[1], api)]
    finally:
        fleet.stop()
        for w in workers + [api]:
            w.stop()
        broker.stop()

    for m in fleet:
        mid = store.query("SELECT mid FROM meters WHERE id=?", (m.id,))[0]["mid"]
        db = {r[0]: r for r in store.reader().execute(
            "SELECT %s FROM raw WHERE mid=? ORDER BY seq" % ", ".join(record.FIELDS), (mid,))}
        jr = journal_records(m.root)
        hc = store.high_contiguous(m.id)
        assert hc >= upto[m.id] and set(range(1, hc + 1)) <= set(db), m.id   # no hole
        assert {s for s in jr if s <= upto[m.id]} <= set(db), m.id     # nothing lost
        assert all(tuple(db[s]) == tuple(jr[s]) for s in db), m.id       # stored as journaled
        # (the meters were stopped with records in flight: above hc may be holes)
        agg = store.query("SELECT coalesce(sum(wh), 0) wh FROM agg30 WHERE mid=?", (mid,))
        anomalies = store.query("SELECT count(*) n FROM anomalies WHERE mid=?", (mid,))
        assert anomalies[0]["n"] == 0, m.id
        rise = sum(db[s][2] - db[s - 1][2] for s in db if s - 1 in db)
        assert agg[0]["wh"] == rise, m.id                                # nothing doubled
        print("\n%s: %d records stored exactly once, energy %d Wh aggregated" % (
            m.id, len(db), agg[0]["wh"]))
    assert stats[0]["received"] > 0 and stats[1]["received"] == 0   # the API ingests nothing
    store.close()

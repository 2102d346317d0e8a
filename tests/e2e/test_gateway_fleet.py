"""The gateway service end to end: `python -m gateway` (ingest + API + HA discovery) with a
real mosquitto (provisioned passwords and ACL) and meters running the real firmware on the
unix port (host_tools/fleet.py, one PZEM and one analog front-end). Readings must land
bit for bit, and every aggregate the API serves must equal what the meters' own journals
imply: energy per 30-minute slot, per hour and in total, fleet sums, and time-of-use cost
priced by prepay/tariff.py. A top-up vended through the API travels to the meter over MQTT
and comes back accepted, and the month's prepaid statement accounts for it and for the
journals' energy. It runs on SQLite and on PostgreSQL (`db`, tests/conftest.py)."""
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from decimal import Decimal
from pathlib import Path

from broker import Broker, free_port
from host_tools.fleet import Fleet
from test_sync_e2e import journal_records   # the meters' flash journals, read on the host
from waits import wait_until
from prepay.tariff import Tariff, split_um

REPO = Path(__file__).resolve().parents[2]
T0 = 1767225600 + 17 * 3600      # 2026-01-01 17:00 UTC: the run crosses the peak window
KEY = "e2e-key"
TOU = {"rates": {"peak": "9.5", "std": 6}, "default": "std",
       "windows": [{"rate": "peak", "from": "18:00", "to": "20:00"}]}
SPEED = 600                      # 10 meter minutes per real second


def api(base, path, body=None, method=None, headers=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method or ("POST" if data else "GET"),
                                 headers=dict({"X-API-Key": KEY, "Content-Type": "application/json"},
                                              **(headers or {})))
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


def expected(recs, tariff):
    """Independent of gateway/aggregate.py: per-slot Wh and per-bucket exact cost from
    consecutive journal records (1-minute intervals never straddle a slot)."""
    slots, cost = {}, {}
    seqs = sorted(recs)
    for a, b in zip(seqs, seqs[1:]):
        p, c = recs[a], recs[b]
        assert b == a + 1 and c[1] - p[1] == 60 and 0 <= c[2] - p[2] < 1000
        d = c[2] - p[2]
        s = (c[1] - 1) // 1800
        slots[s] = slots.get(s, 0) + d
        if tariff is not None:
            bucket = tariff.bucket(c[1] - 1)
            cost[bucket] = cost.get(bucket, 0) + d * tariff.rate(c[1] - 1)
    return slots, cost


def test_fleet_through_the_gateway_service(tmp_path, db):
    port = free_port()
    target = db()
    fleet = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=2, speed=SPEED,
                  source=["pzem", "analog"], db=target, epoch=T0,
                  config={"mqtt": {"tele_s": 300}})
    broker = Broker(tmp_path / "mq", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    api_port = free_port()
    tariff_file = tmp_path / "tou.json"
    tariff_file.write_text(json.dumps(dict(TOU, name="tou")))
    user, password = fleet.gateway
    gw = subprocess.Popen(
        [sys.executable, "-m", "gateway", "--db", str(target), "--broker", "127.0.0.1:%d" % broker.gw_port,
         "--user", user, "--api-port", str(api_port),
         "--client-id", "gw-e2e", "--tariff", str(tariff_file),
         "--retention-days", "3650",    # the meters' clock starts 2026-01-01: keep it all
         "--sim-clock", "%d,%d" % (T0, SPEED)],  # time requests answered in meter time
        cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=open(tmp_path / "gw.log", "wb"),
        env=dict(os.environ, GATEWAY_MQTT_PASSWORD=password, GATEWAY_API_KEYS=KEY))
    base = "http://127.0.0.1:%d" % api_port
    try:
        try:
            run(base, fleet, tmp_path)
        finally:
            fleet.stop()
        # each meter's last will comes after everything it published: once the gateway
        # has them all, the last messages are in the database
        assert wait_until(lambda: not any(api(base, "/api/meters/" + x.id)[1]["online"]
                                          for x in fleet), 30)
        verify(base, fleet)
    finally:   # whatever failed, no process outlives the test
        fleet.stop()
        gw.send_signal(signal.SIGTERM)
        try:
            gw.wait(30)
        except subprocess.TimeoutExpired:
            gw.kill()
        broker.stop()


def run(base, fleet, tmp_path):
    """Start the meters, top them up through the API, let ~4 meter hours pass."""
    assert wait_until(lambda: _ok(base), 20), (tmp_path / "gw.log").read_text()[-2000:]
    st, m = api(base, "/api/meters", {"id": "m-001", "tariff": "tou"})
    assert st == 200 and m["tariff"] == "tou" and m["token_unit_minor"] == 100
    fleet.start()
    assert wait_until(lambda: all(api(base, "/api/meters/" + x.id)[1]["online"] for x in fleet),
                      30), [x.console()[-800:] for x in fleet]
    # top-ups vended by the API, delivered over MQTT, accepted by the firmware (a meter
    # starts with no credit and its relay open: only credit lets energy flow)
    for x in fleet:
        st, tx = api(base, "/api/meters/%s/topup" % x.id, {"amount": 50000, "ref": "e2e"})
        assert st == 201 and tx["status"] == "sent" and tx["token_value"] == 500, tx
    assert wait_until(lambda: all(
        api(base, "/api/meters/%s/transactions" % x.id)[1]["transactions"][0]["status"]
        == "accepted" for x in fleet), 30), [x.console()[-800:] for x in fleet]
    # ~4 meter hours: 17:00 -> 21:00 UTC crosses the 18-20 peak window
    assert wait_until(lambda: all(api(base, "/api/meters/" + x.id)[1]["high_contiguous"] >= 240
                                  for x in fleet), 120), [x.console()[-800:] for x in fleet]
    st, h = api(base, "/api/health")
    assert st == 200 and h["broker"]["connected"] and h["database"]["ok"]
    rt = api(base, "/api/meters/m-002/realtime")[1]
    assert rt["telemetry"]["credit"] >= 40000 and rt["last_record"]["credit"] >= 40000
    st, c = api(base, "/api/meters/m-001/credit")
    assert c["accepted_total"] == 50000 and c["credit"] >= 40000
    # Home Assistant discovery went out through the provisioned ACL (its content is
    # checked in tests/gateway/test_ha.py; the gateway user may write but not read it):
    # 7 sensors a meter, published again when a meter's info tells its firmware version
    ha = h["home_assistant"]
    assert ha["connected"] and ha["published"] >= 14 and ha["published"] % 7 == 0, ha


def verify(base, fleet):
    """Everything the API serves against the meters' own journals."""
    tou = Tariff(TOU)
    fleet_slots = {}
    for x in fleet:
        jr = journal_records(x.root)
        st, m = api(base, "/api/meters/" + x.id)
        hc = m["high_contiguous"]
        assert m["missing"] == [] and hc >= 240
        got = api(base, "/api/meters/%s/readings?from=%d&to=%d&agg=raw"
                  % (x.id, T0 - 3600, T0 + 86400))[1]["rows"]
        assert [r["seq"] for r in got] == list(range(1, hc + 1))
        assert all((r["seq"], r["t"], r["wh"], r["credit"], r["flags"]) ==
                   tuple(jr[r["seq"]][k] for k in (0, 1, 2, 8, 9)) for r in got)
        recs = {s: jr[s] for s in range(1, hc + 1)}
        slots, cost = expected(recs, tou if x.id == "m-001" else None)
        assert sum(slots.values()) > 100    # the household used energy
        q = "from=%d&to=%d" % (T0 - 1800, T0 + 86400)
        rows = api(base, "/api/meters/%s/readings?agg=30min&%s" % (x.id, q))[1]["rows"]
        assert {r["t"] // 1800: r["wh"] for r in rows if r["wh"]} == \
            {s: w for s, w in slots.items() if w}
        hours = api(base, "/api/meters/%s/readings?agg=hour&%s" % (x.id, q))[1]
        assert hours["total_wh"] == recs[hc][2] - recs[1][2] == sum(slots.values())
        assert sum(r["records"] for r in hours["rows"]) == hc
        if x.id == "m-001":
            buckets = api(base, "/api/meters/m-001/tou?" + q)[1]["buckets"]
            assert {b["bucket"]: b["cost"] for b in buckets} == \
                {b: split_um(c)[0] for b, c in cost.items()}
            assert {b["bucket"] for b in buckets} == {"peak", "std"}
            statement(base, recs, cost)
        for s, w in slots.items():
            fleet_slots[s] = fleet_slots.get(s, 0) + w
        print("\n%s: %d records, %d Wh, %d slots" % (x.id, hc, sum(slots.values()), len(slots)))
    frows = api(base, "/api/fleet/readings?agg=30min&from=%d&to=%d"
                % (T0 - 1800, T0 + 86400))[1]["rows"]
    assert {r["t"] // 1800: r["wh"] for r in frows if r["wh"]} == \
        {s: w for s, w in fleet_slots.items() if w}
    assert api(base, "/api/dead-letters")[1]["dead_letters"] == []


def statement(base, recs, cost):
    """The prepaid statements of m-001: the meters' month (meter time, 2026-01) prices the
    journals' energy by bucket and reconciles their credit; the top-up, vended and applied
    at the gateway's real time, is in the statement of that real month."""
    st, s = api(base, "/api/meters/m-001/statement?period=2026-01")
    assert st == 200, s
    assert {x["bucket"]: Decimal(x["exact"]) for x in s["debits"]} == \
        {b: Decimal(c) / 10 ** 6 for b, c in cost.items()}
    first, last = recs[min(recs)], recs[max(recs)]
    r = s["reconciliation"]
    assert r["records"] and r["metered_wh"] == last[2] - first[2] == s["energy_wh"]
    assert (r["opening"]["seq"], r["closing"]["seq"]) == (min(recs), max(recs))
    assert r["debited"] == first[8] + s["topups_accepted"] - last[8]
    assert r["drift"] == s["charged"] - r["debited"]
    (tx,) = api(base, "/api/meters/m-001/transactions")[1]["transactions"]
    month = time.strftime("%Y-%m", time.gmtime(tx["t"]))
    st, s = api(base, "/api/meters/m-001/statement?period=" + month)
    assert st == 200 and s["topups_accepted"] == 50000 and s["topups_pending"] == 0, s
    assert [(x["amount"], x["status"]) for x in s["topups"]] == [(50000, "accepted")]


def _ok(base):
    try:
        return api(base, "/api/health")[1]["broker"]["connected"]
    except OSError:
        return False

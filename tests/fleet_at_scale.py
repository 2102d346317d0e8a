"""The fleet simulator (host_tools/fleetsim.py) against a real mosquitto and a real
`python -m gateway` process, then the database checked record by record: the bench runs it
at 100,000 meters (tests/bench/bench_fleetsim.py), a test at a few hundred
(tests/gateway/test_fleetsim.py).

    from fleet_at_scale import simulate
    r = simulate(tmp_path, meters=300, seconds=8, speed=30)   # figures, as fleetsim prints
"""
import json
import sqlite3
import subprocess
import sys
import urllib.request
from pathlib import Path

from broker import Broker
from gateway.store import Store
from gateway_process import REPO, GatewayProcess
from host_tools import fleetsim

USERS = {"gateway": "gw-pw", "fleetsim": "fs-pw"}
# A production-sized session queue and in-flight window for the simulator's one connection,
# which carries every meter's acks (tests/broker.py sizes them for tests).
BROKER_CONF = ("max_queued_messages 2000000\nmax_inflight_messages 1000\n"
               "autosave_interval 1800\n")

GATEWAY_STATS = ("received", "batches", "acks", "ack_inflight_max", "queue_max", "lag_max_s",
                 "ack_lag_p50_s", "ack_lag_p99_s")


def simulate(tmp, meters, seconds, speed, outage=0.05, backlog_min=240, extra=()):
    """Run the simulator; returns its figures plus `db_rows` (raw rows after the gateway
    stopped) and `db_wh` (the fleet's aggregated energy). Raises if it fails."""
    tmp = Path(tmp)
    b = Broker(tmp / "mq", users=USERS, extra_conf=BROKER_CONF,
               gateway_users=tuple(USERS)).start()
    db = tmp / "fleet.db"
    s = Store(db)
    s.register_new_meters(fleetsim.meter_id(i) for i in range(meters))
    s.close()
    gw = GatewayProcess(tmp / "gw", b, USERS["gateway"], db=db,
                        extra=["--no-ha-discovery", *extra])
    try:
        gw.start()
        p = subprocess.run(
            [sys.executable, "-m", "host_tools.fleetsim", "--broker", "%s:%d" % (b.host, b.gw_port),
             "--user", "fleetsim", "--meters", str(meters), "--seconds", str(seconds),
             "--speed", str(speed), "--outage", str(outage), "--backlog-min", str(backlog_min),
             "--db", str(db), "--json"],
            cwd=str(REPO), capture_output=True, text=True, timeout=seconds + 600,
            env={"FLEETSIM_MQTT_PASSWORD": USERS["fleetsim"], "PATH": "/usr/bin:/bin"})
        if not p.stdout.strip():
            raise RuntimeError("fleetsim failed:\n%s\n%s" % (p.stderr[-3000:], gw.log()[-3000:]))
        r = json.loads(p.stdout.splitlines()[-1])
        with urllib.request.urlopen(gw.url + "/api/health", timeout=10) as h:
            st = json.loads(h.read())["broker"]["stats"]
        r["gateway"] = {k: st[k] for k in GATEWAY_STATS}
    finally:
        gw.stop()
        b.stop()
    con = sqlite3.connect(db)
    try:
        r["db_rows"] = con.execute("SELECT count(*) FROM raw").fetchone()[0]
        r["db_wh"] = con.execute("SELECT sum(wh) FROM grp30 WHERE grp = ''").fetchone()[0]
        r["db_meters_with_rows"] = con.execute("SELECT count(DISTINCT mid) FROM raw").fetchone()[0]
    finally:
        con.close()
    return r

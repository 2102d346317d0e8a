"""`make demo`: the whole system on this machine, with the real firmware.

    python -m host_tools.demo [--meters 4] [--speed 30] [--duration 0] [--dir build/demo]

Starts a mosquitto broker (per-meter credentials and ACLs from provisioning), the gateway
(ingest, billing API, live stream, Home Assistant discovery) and a fleet of meters running
the real firmware, frozen into the unix-port MicroPython under a 128k heap: half read a
simulated PZEM-004T over a pty, half sample the simulated analog front-end. The gateway vends each meter a first
top-up token, which travels over MQTT and is verified by the meter itself. Then it prints
a live table from the gateway's API until Ctrl-C (or --duration seconds).
"""
import argparse
import json
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from host_tools import frozen
from host_tools.broker import Broker, free_port
from host_tools.fleet import Fleet

REPO = Path(__file__).resolve().parent.parent
API_KEY = "demo-key"
TARIFF = REPO / "host_tools" / "tariffs" / "domestic-tou.json"


def api(base, path, body=None):
    req = urllib.request.Request(base + path, method="POST" if body is not None else "GET",
                                 data=json.dumps(body).encode() if body is not None else None,
                                 headers={"X-API-Key": API_KEY, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.loads(r.read())


def wait_http(url, timeout=20):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        try:
            urllib.request.urlopen(url, timeout=1).close()
            return True
        except OSError:
            time.sleep(0.2)
    return False


def table(base, fleet):
    rows = []
    for m in fleet.meters:
        rt = api(base, "/api/meters/%s/realtime" % m.id)
        cr = api(base, "/api/meters/%s/credit" % m.id)
        tele = rt.get("telemetry") or {}
        rec = rt.get("last_record") or {}
        rows.append("%-7s %-7s %-7s %8.1f %8.1f %9s %6s  %s" % (
            m.id, m.source, "online" if rt["online"] else "offline",
            tele.get("p", 0), tele.get("v", 0), rec.get("wh", "-"),
            rec.get("seq", "-"), cr.get("credit", "-")))
    return "\n".join(["%-7s %-7s %-7s %8s %8s %9s %6s  %s" % (
        "meter", "source", "link", "W", "V", "Wh", "seq", "credit (paise)")] + rows)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--meters", type=int, default=4)
    ap.add_argument("--speed", type=int, default=30, help="meter seconds per real second")
    ap.add_argument("--duration", type=float, default=0, help="stop after N s (0: Ctrl-C)")
    ap.add_argument("--dir", default=str(REPO / "build" / "demo"))
    a = ap.parse_args(argv)
    print("firmware frozen into the unix-port MicroPython (a first run fetches MicroPython's "
          "source and compiles it: about a minute)", flush=True)
    fw = frozen.firmware()
    print("firmware %s" % fw)
    run = Path(a.dir)
    shutil.rmtree(run, ignore_errors=True)
    run.mkdir(parents=True)
    port, api_port, web_port = free_port(), free_port(), 18080
    epoch = int(time.time())
    db = run / "gateway.db"
    fleet = Fleet(run / "meters", "127.0.0.1", port, a.meters, speed=a.speed,
                  source=["pzem", "analog"] * (a.meters // 2) + ["pzem"] * (a.meters % 2),
                  db=db, epoch=epoch, web_port=web_port,
                  config={"tariff": json.loads(TARIFF.read_text()), "meter": {"utc_offset_min": 330}})
    broker = Broker(run / "mosquitto", passwd=fleet.passwd, acl=fleet.acl, port=port).start()
    user, password = fleet.gateway
    gw_log = open(run / "gateway.log", "w")
    gw = subprocess.Popen([sys.executable, "-m", "gateway", "--db", str(db), "--broker",
                           "127.0.0.1:%d" % port, "--user", user, "--password", password,
                           "--api-port", str(api_port), "--api-key", API_KEY,
                           "--tariff", str(TARIFF), "--utc-offset-min", "330",
                           "--sim-clock", "%d,%d" % (epoch, a.speed)],
                          cwd=str(REPO), stdout=gw_log, stderr=subprocess.STDOUT)
    base = "http://127.0.0.1:%d" % api_port
    try:
        if not wait_http(base + "/api/health"):
            raise SystemExit("gateway did not start: see %s" % (run / "gateway.log"))
        fleet.fw = fw
        fleet.start()
        print("broker   mosquitto on 127.0.0.1:%d (per-meter users and ACLs)" % port)
        print("gateway  %s/api/meters   OpenAPI: %s/openapi.json   metrics: %s/metrics"
              % (base, base, base))
        print("browse   python -m gateway.browse %s" % db)
        for i, m in enumerate(fleet.meters):
            print("meter    %s (%s): consumer page http://127.0.0.1:%d/" % (m.id, m.source, web_port + i))
        time.sleep(3)
        for m in fleet.meters:     # first top-up: vended by the gateway, verified by the meter
            tx = api(base, "/api/meters/%s/topup" % m.id, {"amount": 20000, "ref": "demo"})
            print("top-up   %s: token %s for 200.00" % (m.id, tx.get("token")))
        end = time.monotonic() + a.duration if a.duration else None
        while end is None or time.monotonic() < end:
            time.sleep(5)
            print("\n" + time.strftime("%H:%M:%S") + " (meter clock x%d)\n" % a.speed
                  + table(base, fleet), flush=True)
    except KeyboardInterrupt:
        pass
    finally:
        fleet.stop()
        gw.terminate()
        gw.wait(10)
        broker.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())

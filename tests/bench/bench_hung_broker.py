"""Benchmark (make bench): the meter's 100 ms bound under a hung broker (docs/protocol.md,
*Blocking*). The real Journal + Sync + umqtt.simple, frozen into the unix port, run at
-X heapsize=128k behind the simulated WiFi (tests/device/upy/sync_run.py, as
tests/device/test_sync.py runs them) against a real mosquitto and the gateway's ingest,
over plain MQTT and over TLS. Per case, a same-run baseline (the broker answering) and a
run where the broker is frozen (SIGSTOP) for 2 s mid-session; it prints the worst single
MQTT call (stall_ms), the worst event-loop lag a 20 ms probe saw (lag_ms), the largest
socket timeout the firmware set (max_wait_ms, which tests/device/test_sync.py checks against
the bound) and the reconnects, with mqtt.timeout_ms at its default. Figures only: the one
assertion is that each run finished online."""
import sys
import time

import upy
from broker import Broker, free_port
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools.provision import Provisioner
from host_tools.tlsca import CA
from host_tools.wifiworld import World

sys.path.insert(0, str(upy.REPO / "tests" / "device"))
from test_sync import meter, result  # noqa: E402  the same meter run as the test's

T0 = 1767225600
SECS = 11


def _online(store, mid, timeout=20):
    end = time.time() + timeout
    while time.time() < end:
        m = store.meter(mid)
        if m and m["online"]:
            return True
        time.sleep(0.05)
    return False


def test_bench_hung_broker(tmp_path):
    ca = CA(tmp_path / "ca")
    store = Store(tmp_path / "gw.db")
    p = Provisioner(tmp_path / "prov")
    port, tls_port = free_port(), free_port()
    cfg = {"web": {"port": 0}, "measure": {"window_ms": 5000}, "mqtt": {"tele_s": 60},
           "wifi": {"ssid": "site-ap", "password": "site-pass-1"}, "ntp": {"host": ""}}
    cases = (("plain", "m-plain", port, None), ("TLS", "m-tls", tls_port, ca.ca))
    for _, mid, mport, mca in cases:
        p.add_meter(mid, tmp_path / mid, "127.0.0.1", mport, store=store, config=cfg, ca=mca)
        World(tmp_path / mid, "site-ap", "site-pass-1")
    passwd, acl = p.write_broker_files()
    b = Broker(tmp_path / "mq", passwd=passwd, acl=acl, port=port, tls=ca,
               tls_port=tls_port).start()
    ing = Ingest(store, "127.0.0.1", b.gw_port, *p.gateway, replay_wait=0.5,
                 ca=ca.ca, clock=lambda: T0).start()
    rows = []
    try:
        assert ing.wait_connected()
        for name, mid, _, _ in cases:
            for hung in (False, True):
                proc = meter(tmp_path / mid, SECS, epoch=T0)
                _online(store, mid)
                time.sleep(0.5)
                if hung:
                    b.freeze(2.0)                # connections open, broker silent
                s = result(proc)["sync"]
                rows.append((name, hung, s))
    finally:
        ing.stop()
        store.close()
        b.stop()
    print("\nhung broker (frozen 2 s), sync frozen into the unix port at -X heapsize=128k, "
          "mqtt.timeout_ms 80 (the budget of one turn), bound 100 ms:")
    base = {}
    for name, hung, s in rows:
        if not hung:
            base[name] = s
        print("  %-5s %-8s worst MQTT call %3d ms  worst lag %3d ms  largest socket timeout "
              "%2d ms  reconnects %d%s"
              % (name, "hung" if hung else "baseline", s["stall_ms"], s["lag_ms"],
                 s["max_wait_ms"], s["reconnects"],
                 "  (lag %.1fx baseline)" % (s["lag_ms"] / max(1, base[name]["lag_ms"]))
                 if hung else ""))
    assert all(s["online"] for _, _, s in rows), rows

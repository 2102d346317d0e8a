"""Benchmark (make bench): what MQTT over TLS costs the meter's heap. The complete firmware,
frozen into the 64-bit unix port (host_tools/frozen.py, mbedTLS compiled in with
MicroPython's own config), boots and connects to a real mosquitto, once over plain MQTT and
once over TLS (CA made for the run, EC P-256). Per case it prints the live heap after
gc.collect() at boot (TLS: the CA loaded into its context) and once connected (TLS: the
session), and everything allocated while connecting with the collector off (an upper
bound of the connect's high-water), and that the meter connects under the fleet's heap.
Figures only.

mbedTLS's record buffers are not in these figures: outside bare-metal ports mbedTLS takes
them from the C heap (libc here, ESP-IDF's heap on the ESP32, MicroPython's heap only on
bare-metal ports): MBEDTLS_SSL_IN_CONTENT_LEN 16 KiB + OUT 4 KiB per connection in
MicroPython's config, and the ESP32's sdkconfig (CONFIG_MBEDTLS_ASYMMETRIC_CONTENT_LEN)."""
import json
import subprocess

from broker import Broker
from host_tools import frozen
from host_tools.fleet import HEAP, firmware_cmd, upy_env
from host_tools.provision import Provisioner
from host_tools.tlsca import CA

PROBE = """
import gc, asyncio
def live():
    gc.collect()
    return gc.mem_alloc()
from board import Board
import meter
m = meter.boot(Board())
out = {"boot": live()}
gc.disable()
a0 = gc.mem_alloc()
try:
    asyncio.run(m.sync._connect())
except Exception as e:
    out["error"] = repr(e)
out["connect_alloc"] = gc.mem_alloc() - a0
gc.enable()
out["connected"] = live()
out["online"] = m.sync.online
print("HEAP", out)
"""


def probe(fw, root, heap):
    env = upy_env(fw, root)
    r = subprocess.run(firmware_cmd(heap, fw)[:-2] + ["-c", PROBE], cwd=str(fw), env=env,
                       capture_output=True, text=True, timeout=60)
    line = [ln for ln in r.stdout.splitlines() if ln.startswith("HEAP ")]
    if not line:
        return "failed: " + (r.stdout + r.stderr).strip().splitlines()[-1]
    return json.loads(line[0][5:].replace("'", '"').replace("True", "true")
                      .replace("False", "false"))


def test_bench_tls_heap(tmp_path):
    fw = frozen.firmware("unix_sim")
    ca = CA(tmp_path / "ca")
    p = Provisioner(tmp_path / "prov")
    for mid in ("m-plain", "m-tls"):
        p.add_meter(mid, tmp_path / mid, "127.0.0.1", 1, source="analog",
                    config={"web": {"port": 0}})
    passwd, acl = p.write_broker_files()
    b = Broker(tmp_path / "mq", passwd=passwd, acl=acl, tls=ca).start()
    # the real ports, now that the broker has them (re-provisioning keeps the secrets)
    p.add_meter("m-plain", tmp_path / "m-plain", "127.0.0.1", b.port, source="analog",
                config={"web": {"port": 0}})
    p.add_meter("m-tls", tmp_path / "m-tls", "127.0.0.1", b.tls_port, source="analog",
                config={"web": {"port": 0}}, ca=ca.ca)
    try:
        rows = {}
        for mid in ("m-plain", "m-tls"):
            rows[mid] = {"2m": probe(fw, tmp_path / mid, "2m"),
                         HEAP: probe(fw, tmp_path / mid, HEAP)}
    finally:
        b.stop()
    print("\nMQTT connect, complete firmware frozen into the 64-bit unix port (live heap "
          "after gc.collect(); connect = allocated while connecting, collector off):")
    for mid, name in (("m-plain", "plain"), ("m-tls", "TLS")):
        r = rows[mid]["2m"]
        if isinstance(r, str):
            print("  %-6s %s" % (name, r))
            continue
        small = rows[mid][HEAP]
        ok = "connects" if isinstance(small, dict) and small["online"] else "FAILS (%s)" % (
            small if isinstance(small, str) else small.get("error"))
        print("  %-6s boot %6d B   connected %6d B   connect %6d B   under -X heapsize=%s: %s"
              % (name, r["boot"], r["connected"], r["connect_alloc"], HEAP, ok))
    pl, tl = rows["m-plain"]["2m"], rows["m-tls"]["2m"]
    if isinstance(pl, dict) and isinstance(tl, dict):
        print("  TLS - plain: boot %+d B (CA context), connected %+d B, connect %+d B "
              "(%.2fx plain)" % (tl["boot"] - pl["boot"], tl["connected"] - pl["connected"],
                                 tl["connect_alloc"] - pl["connect_alloc"],
                                 tl["connect_alloc"] / max(1, pl["connect_alloc"])))
    assert isinstance(tl, dict) and tl["online"], rows

"""The meter's sync (real Journal + Sync + umqtt.simple, compiled bundle, -X heapsize=128k;
tests/device/upy/sync_run.py drives a constant load in place of the front-end and credit)
against a real mosquitto and the real gateway ingest: time sync over MQTT for a meter
whose clock was never set, config updates (applied, refused, invalid), malformed and
unknown commands, and a hung broker."""
import json
import subprocess
import time

import pytest

import upy
from broker import Broker, free_port
from gateway.ingest import Ingest
from gateway.store import Store
from host_tools.fleet import bundle, upy_env
from host_tools.provision import Provisioner
from prepay.record import F_UNSYNCED

T0 = 1767225600
SCRIPT = str(upy.REPO / "tests" / "device" / "upy" / "sync_run.py")


@pytest.fixture
def rig(tmp_path):
    port = free_port()
    store = Store(tmp_path / "gw.db")
    p = Provisioner(tmp_path / "prov")
    root = tmp_path / "m-1"
    p.add_meter("m-1", root, "127.0.0.1", port, store=store,
                config={"web": {"port": 0}, "measure": {"window_ms": 5000},
                        "mqtt": {"tele_s": 60}})
    passwd, acl = p.write_broker_files()
    b = Broker(tmp_path / "mq", passwd=passwd, acl=acl, port=port).start()
    clock = {"t0": time.time()}
    ing = Ingest(store, "127.0.0.1", port, *p.gateway, replay_wait=0.5,
                 clock=lambda: int(T0 + (time.time() - clock["t0"]) * 600)).start()
    assert ing.wait_connected()
    yield root, store, ing, b, clock
    ing.stop()
    store.close()
    b.stop()


def meter(root, secs, epoch=None, events=0):
    fw = bundle()      # run from the meter's root, so the bundle goes on the path by name
    env = upy_env(fw, root, 600, epoch, extra_path=[fw, fw / "lib", upy.REPO / "tests/device/upy"])
    return subprocess.Popen(upy.cmd("128k") + [SCRIPT, str(secs), str(events)], env=env,
                            cwd=str(root),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def result(proc):
    out, _ = proc.communicate(timeout=60)
    lines = [ln for ln in out.splitlines() if ln.startswith("{")]
    assert lines, out[-3000:]
    return json.loads(lines[-1])


def journal(root):
    from prepay import record
    out = []
    for seg in sorted((root / "journal").glob("s[0-9][0-9]")):
        data = seg.read_bytes()
        out += [record.unpack(data, o) for o in range(16, len(data) - 35, 36)]
    return [r for r in out if r]


def test_unsynced_clock_is_set_by_the_gateway(rig):
    root, store, ing, b, clock = rig
    (root / "netdown").write_text("")           # offline until the first interval has closed
    proc = meter(root, 6)                       # no METER_EPOCH: the RTC was never set
    clock["t0"] = time.time()
    deadline = time.time() + 20
    while not journal(root) and time.time() < deadline:
        time.sleep(0.05)
    (root / "netdown").unlink()
    res = result(proc)
    recs = journal(root)
    assert res["sync"]["time_syncs"] == 1 and ing.stats["time_served"] >= 1
    synced = [r for r in recs if not r[9] & F_UNSYNCED]
    assert recs[0][9] & F_UNSYNCED               # the first interval closed before the sync
    assert synced and all(abs(r[1] - T0) < 2 * 86400 for r in synced)
    assert [r[0] for r in recs] == list(range(1, len(recs) + 1))
    ev = store.query("SELECT data FROM events WHERE kind='time_sync'")
    assert ev and json.loads(ev[0]["data"])["new"] >= T0
    assert store.high_contiguous("m-1") >= len(recs) - 1


def test_config_commands_and_bad_commands(rig):
    root, store, ing, b, clock = rig
    proc = meter(root, 5, epoch=T0)
    time.sleep(2)
    ing.send_command("m-1", "config", id="c1", set={"mqtt": {"tele_s": 5}})
    ing.send_command("m-1", "config", id="c2", set={"token": {"key": "00" * 16}})
    ing.send_command("m-1", "config", id="c3", set={"mqtt": {"tele_s": "often"}})
    ing.send_command("m-1", "config", id="c4", set={"nosuch": {"x": 1}})
    ing.client.publish("pm/m-1/cmd/token", b'{"ver": 1, "id": "t9", "code": "12ab"}', qos=1)
    ing.client.publish("pm/m-1/cmd/relay", b"not json", qos=1)
    ing.client.publish("pm/m-1/cmd/ack", b'{"ver": 1, "seq": 99999999}', qos=1)
    res = result(proc)
    time.sleep(0.5)
    cfg = json.loads((root / "config.json").read_text())
    assert cfg["mqtt"]["tele_s"] == 5                        # c1 applied
    assert cfg["token"]["key"] != "00" * 16                  # c2 refused
    rejected = [json.loads(r["data"]) for r in store.query(
        "SELECT data FROM events WHERE kind='cmd_rejected'")]
    assert {e["cmd"] for e in rejected} >= {"token", "relay"}
    assert any("config_update" == r["kind"] for r in store.query("SELECT kind FROM events"))
    assert res["sync"]["cmd_rejected"] >= 5                  # c2, c3, c4, token, relay
    assert res["journal"]["bad_acks"] == 1                   # ack beyond the newest seq
    assert ing.stats["results"] >= 5                         # c1-c4 and t9 answered (res)


def test_events_held_offline_drop_oldest_and_keep_their_numbers(rig):
    """Offline, at most 16 unsent events are held (in the events ring), the oldest dropped and
    counted; once online the rest arrive numbered boot << 20 | n (n counts this boot's
    events, dropped ones included); one with non-scalar data is counted, not sent."""
    root, store, ing, b, clock = rig
    n = 30
    (root / "netdown").write_text("")
    proc = meter(root, 4, epoch=T0, events=n)
    time.sleep(1.5)
    (root / "netdown").unlink()
    res = result(proc)
    time.sleep(0.5)
    s = res["sync"]
    total = 1 + n + 1                                   # boot, the anomalies, the bad one
    assert s["ev_drops"] == total - 16 and s["ev_bad"] == 1
    rows = store.query("SELECT eseq, kind, data FROM events ORDER BY eseq")
    boots = res["journal"]["boots"]
    assert {r["eseq"] >> 20 for r in rows} == {boots}
    sent = list(range(total - 15, total))               # the 16 newest but the bad (last) one
    assert [r["eseq"] & 0xFFFFF for r in rows] == sent, rows
    assert [json.loads(r["data"])["detail"] for r in rows] == [k - 2 for k in sent]
    assert s["events"] == 15 and ing.stats["dead_letters"] == 0


def test_hung_broker_bounds_every_blocking_call(rig):
    root, store, ing, b, clock = rig
    proc = meter(root, 8, epoch=T0)
    time.sleep(2.5)
    b.freeze(2.0)                                # connections open, broker silent
    res = result(proc)
    s = res["sync"]
    print("\nhung broker for 2 s: worst single MQTT call %d ms, worst event-loop lag %d ms "
          "(mqtt.timeout_ms = 200), reconnects %d" % (s["stall_ms"], s["lag_ms"],
                                                      s["reconnects"]))
    assert s["reconnects"] >= 1 and s["online"]
    assert store.high_contiguous("m-1") >= res["journal"]["seq"] - 2

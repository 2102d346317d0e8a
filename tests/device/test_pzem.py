"""The PZEM-004T driver (device/measure/pzem.py) running under the unix-port MicroPython
(-X heapsize=128k) against host_tools.pzem_sim over a real pty: exact request bytes,
readings equal to what the simulator served, each fault counted, stale and recovery,
the commands, a simulator that is absent or restarts, and the heap."""
import json
import subprocess

import pytest

import upy
from host_tools import pzem_sim

mb = pzem_sim.mb
SCRIPT = "pzem_script.py"


@pytest.fixture
def sim(tmp_path):
    procs = []

    def run(*args):
        p = pzem_sim.spawn(tmp_path, "--trace", tmp_path / "trace.jsonl", *args)
        procs.append(p)
        return p
    yield run
    for p in procs:
        if p.poll() is None:
            p.terminate()
            p.communicate(timeout=10)


def drive(root, *ops, **env):
    return upy.run_json(SCRIPT, *ops, METER_ROOT=root, timeout=60, **env)


def trace(root):
    return [json.loads(x) for x in (root / "trace.jsonl").read_text().splitlines()]


def test_exact_request_bytes_on_the_wire(sim, tmp_path):
    sim()
    rows = drive(tmp_path, "wire", "read:1", "alarm:1500", "reset", "addr:9", "read:1")
    assert rows[0]["read"] == "01040000000a700d"
    assert [t["req"] for t in trace(tmp_path)] == [
        "01040000000a700d",        # read input registers 0x0000..0x0009 of slave 1
        "0106000105dc" + mb_crc("01 06 00 01 05 dc"),    # alarm threshold 1500 W
        "01428011",                # reset energy
        "f8" + "06000200" + "09" + mb_crc("f8 06 00 02 00 09"),   # new address via 0xF8
        "09040000000a" + mb_crc("09 04 00 00 00 0a"),
    ]
    assert all(r.get("ok", True) for r in rows[1:])


def mb_crc(s):
    b = bytearray(bytes.fromhex(s.replace(" ", "")) + b"\0\0")
    mb.put_crc(b, len(b) - 2)
    return b[-2:].hex()


def test_good_reads_match_what_the_simulator_served(sim, tmp_path):
    sim("--speed", "600")           # the register moves between reads
    rows = drive(tmp_path, "read:25", "load:2500/0.87", "read:5", METER_SPEED=600)
    served = [t for t in trace(tmp_path) if t["req"] == "01040000000a700d"]
    assert len(served) == len(rows) == 30
    for row, t in zip(rows, served):
        r = t["regs"]
        assert row["ok"] and row["status"] == "ok" and row["fails"] == 0
        assert row["v"] == r[0] / 10
        assert row["i"] == pytest.approx((r[1] | r[2] << 16) / 1000, abs=1e-9)
        assert row["p"] == pytest.approx((r[3] | r[4] << 16) / 10, abs=1e-9)
        assert row["wh"] == r[5] | r[6] << 16
        assert row["hz"] == pytest.approx(r[7] / 10, abs=1e-9)
        assert row["pf"] == pytest.approx(r[8] / 100, abs=1e-9)
        assert row["alarm"] == (r[9] != 0)
        assert row["s"] == pytest.approx(row["v"] * row["i"], rel=1e-9)
    assert rows[-1]["p"] == 2500.0 and rows[-1]["pf"] == 0.87
    assert rows[-1]["wh"] > rows[0]["wh"]               # energy accumulated at speed 600
    assert rows[-1]["c"] == {"ok": 30, "crc": 0, "short": 0, "garbage": 0, "timeout": 0,
                             "exception": 0}


# fault kind -> the counter(s) it must land in. A dropped byte in the header reads as
# garbage; elsewhere it leaves the frame short.
FAULTS = {"crc": ("crc",), "none": ("timeout",), "garbage": ("garbage",),
          "exc": ("exception",), "drop": ("short", "garbage"),
          "delay": ("short", "garbage", "timeout")}


@pytest.mark.parametrize("kind", FAULTS)
def test_each_fault_is_counted_goes_stale_then_recovers(sim, tmp_path, kind):
    sim()
    # timeouts generous enough that a busy machine never adds a failure of its own
    rows = drive(tmp_path, "read:2", f"fault:{kind}=1;n=3;seed=5;delay_ms=500", "read:9",
                 "fault:", "read:1", PZEM_TIMEOUT=250, PZEM_STALE=3)
    assert [r["status"] for r in rows[:2]] == ["ok", "ok"]
    faulty = rows[2:5]
    assert [r["ok"] for r in faulty] == [False] * 3
    assert [r["fails"] for r in faulty] == [1, 2, 3]
    assert [r["status"] for r in faulty] == ["ok", "ok", "stale"]   # stale at stale_after
    c = rows[-1]["c"]
    bad = {k: v for k, v in c.items() if k != "ok" and v}
    assert set(bad) <= set(FAULTS[kind]), c
    if kind != "delay":   # a late tail can spoil one more read; others fail exactly 3 times
        assert sum(bad.values()) == 3, c
    assert rows[-1]["status"] == "ok" and rows[-1]["fails"] == 0
    first_ok = next(k for k, r in enumerate(rows[5:], 5) if r["ok"])
    # recovered at once; late tails of delayed answers queue up behind each other on the
    # one-transmitter line, so a delay burst takes a few more reads to clear
    assert first_ok <= (10 if kind == "delay" else 5)
    assert all(r["status"] == "ok" for r in rows[first_ok:])
    assert c["ok"] == sum(1 for r in rows if r["ok"])


def test_gap_within_the_timeout_is_not_a_fault(sim, tmp_path):
    sim()
    rows = drive(tmp_path, "fault:delay=1;delay_ms=40", "read:4", PZEM_TIMEOUT=200)
    assert all(r["ok"] for r in rows) and rows[-1]["c"]["ok"] == 4


def test_commands_against_the_simulator(sim, tmp_path):
    p = sim("--speed", "3600")
    rows = drive(tmp_path, "load:3000", "read:1", "sleep:200", "read:1", "settings",
                 "alarm:2000", "settings", "read:1", "reset", "read:1", "addr:7", "read:1",
                 "settings", METER_SPEED=3600)
    r1, r2, s1, al, s2, r3, rs, r4, ad, r5, s3 = rows
    assert r2["wh"] > r1["wh"] + 100                    # 3000 W at one meter hour per second
    assert s1["settings"] == [23000, 1] and not r2["alarm"]
    assert al["ok"] and s2["settings"] == [2000, 1] and r3["alarm"]
    assert rs["ok"] and r4["wh"] < 100 < r3["wh"]        # ~3 Wh per real ms since the reset
    assert ad["ok"] and ad["addr"] == 7 and r5["ok"] and r5["addr"] == 7
    assert s3["settings"] == [2000, 7]
    assert all(r.get("ok", True) for r in rows)
    p.terminate()
    p.communicate(timeout=10)
    st = json.loads((tmp_path / "pzem_state.json").read_text())
    assert st["address"] == 7 and st["alarm_w"] == 2000


def test_wrong_address_times_out_and_bad_arguments_never_reach_the_wire(sim, tmp_path):
    sim()
    rows = drive(tmp_path, "read:3", "badarg", PZEM_ADDRESS=2, PZEM_TIMEOUT=50)
    assert [r["status"] for r in rows[:3]] == ["starting", "starting", "stale"]
    assert rows[2]["c"]["timeout"] == 3
    assert rows[3]["errors"] == ["pzem address must be 1..247"] * 2 + \
        ["alarm threshold must be 0..65535 W"] * 2
    assert len(trace(tmp_path)) == 3                     # only the three reads were sent


def test_simulator_absent_then_started_then_restarted(tmp_path):
    """The pty does not exist yet, then appears; later the simulator restarts on a new pty.
    The driver counts timeouts, goes stale, and recovers each time, without crashing."""
    argv = upy.cmd() + [str(upy.REPO / "tests/device/upy" / SCRIPT), "read:3", "mark:up",
                        "waitfile:go1", "read:2", "mark:restart", "waitfile:go2", "read:3",
                        "waitfile:go3", "read:2"]
    mp = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=str(upy.REPO),
                          env=upy.env(METER_ROOT=tmp_path, PZEM_TIMEOUT=250))
    rows, procs = [], []

    def until(text):
        for line in mp.stdout:
            row = json.loads(line)
            rows.append(row)
            if row.get("text") == text:
                return
        raise AssertionError(f"script ended before {text}: {rows}")
    try:
        until("up")
        assert [r["status"] for r in rows[:3]] == ["starting", "starting", "stale"]
        assert rows[2]["c"]["timeout"] == 3
        procs.append(pzem_sim.spawn(tmp_path))
        (tmp_path / "go1").touch()
        until("restart")
        assert rows[4]["ok"] and rows[5]["ok"] and rows[5]["status"] == "ok"
        procs[0].terminate()
        procs[0].communicate(timeout=10)
        (tmp_path / "go2").touch()
        for line in mp.stdout:                           # reads with the simulator gone
            rows.append(json.loads(line))
            if len(rows) == 10:
                break
        assert [r["ok"] for r in rows[7:10]] == [False] * 3 and rows[9]["status"] == "stale"
        procs.append(pzem_sim.spawn(tmp_path))           # a new pty behind the same link
        (tmp_path / "go3").touch()
        rows += [json.loads(x) for x in mp.stdout]
        assert mp.wait(timeout=30) == 0
        assert [r["ok"] for r in rows[10:12]] == [True, True]
        assert rows[-1]["status"] == "ok" and rows[-1]["c"]["timeout"] == 6
    finally:
        if mp.poll() is None:
            mp.kill()
        for p in procs:
            if p.poll() is None:
                p.terminate()
                p.communicate(timeout=10)


def test_heap_is_flat_and_allocation_per_read_is_small(sim, tmp_path):
    sim()
    alloc, heap = drive(tmp_path, "alloc:50", "heap:300")
    print(f"\nPZEM read: {alloc['per_read']} bytes allocated per read on the 64-bit unix port "
          f"(6 floats + 2 coroutine frames); live heap {heap['before']} -> {heap['after']}")
    assert heap["after"] <= heap["before"]              # nothing retained per read
    assert alloc["per_read"] <= 1024
    assert heap["c"]["ok"] == 351

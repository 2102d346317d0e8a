"""host_tools.pzem_sim over its real pty: exact PZEM-004T v3 answers (and silences),
persistence, the meter clock, the relay, fault control; and the household load profile
on both runtimes."""
import json
import os
import select
import subprocess
import sys
import time
import tty

import pytest

import upy
from host_tools import pzem_sim

mb = pzem_sim.mb
REPO = upy.REPO


def h(s):
    return bytes.fromhex(s.replace(" ", ""))


def with_crc(s):
    b = bytearray(h(s) + b"\0\0")
    mb.put_crc(b, len(b) - 2)
    return bytes(b)


class Line:
    """The meter's end of the pty, as raw bytes."""

    def __init__(self, path):
        self.fd = os.open(path, os.O_RDWR | os.O_NOCTTY)
        tty.setraw(self.fd)

    def xfer(self, req, want=25, timeout=0.5):
        os.write(self.fd, req)
        got = b""
        end = time.monotonic() + timeout
        while len(got) < want and select.select([self.fd], [], [], max(0, end - time.monotonic()))[0]:
            got += os.read(self.fd, 64)
        return got

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def start(root, *args):
    return pzem_sim.spawn(root, *args)


def stop(p):
    """Stop the simulator; return the last line it logged."""
    p.terminate()
    p.wait(timeout=10)
    root = p.args[p.args.index("--root") + 1]
    return (pzem_sim.Path(root) / "pzem_sim.log").read_text().splitlines()[-1]


@pytest.fixture
def sim(tmp_path):
    procs, lines = [], []

    def run(*args, root=tmp_path):
        p = start(root, *args)
        procs.append(p)
        line = Line(root / "pzem.tty")
        lines.append(line)
        return p, line
    yield run
    for line in lines:
        line.close()
    for p in procs:
        if p.poll() is None:
            stop(p)


def regs_of(ans):
    return [mb.u16(ans, 3 + 2 * k) for k in range(ans[2] // 2)]


def test_read_input_registers_with_a_forced_load(sim, tmp_path):
    (tmp_path / "load").write_text("1000 0.8")
    p, line = sim("--trace", tmp_path / "trace.jsonl")
    ans = line.xfer(h("01 04 00 00 00 0a 70 0d"))
    assert len(ans) == 25 and ans[:3] == h("01 04 14") and mb.crc_ok(ans, 25)
    r = regs_of(ans)
    v = r[0] / 10
    assert 220 <= v <= 240
    assert mb.u32(ans, 9) == 10000                  # P: 1000.0 W in 0.1 W
    assert r[8] == 80                               # PF 0.80
    assert mb.u32(ans, 5) == round(1000 * 1000 / (v * 0.8))   # I in mA = P / (V * PF)
    assert r[7] in (499, 500, 501)                  # 50 Hz in 0.1 Hz
    assert r[9] == 0                                # under the alarm threshold
    [t] = [json.loads(x) for x in (tmp_path / "trace.jsonl").read_text().splitlines()]
    assert t["req"] == "01040000000a700d" and t["ans"] == ans.hex() and t["regs"] == r


def test_partial_reads_and_holding_registers(sim):
    _, line = sim()
    ans = line.xfer(with_crc("01 04 00 07 00 02"), 9)        # Hz and PF only
    assert ans[:3] == h("01 04 04") and mb.crc_ok(ans, 9)
    ans = line.xfer(with_crc("f8 03 00 01 00 02"), 9)        # alarm threshold, address
    assert ans == with_crc("f8 03 04 59 d8 00 01")           # 23000 W, address 1


@pytest.mark.parametrize("req,ans", [
    ("01 05 00 00 ff 00", "01 85 01"),    # function the PZEM does not have
    ("01 04 00 0a 00 01", "01 84 02"),    # input register past 0x0009
    ("01 04 00 05 00 06", "01 84 02"),    # range running past 0x0009
    ("01 04 00 00 00 00", "01 84 03"),    # zero registers
    ("01 03 00 00 00 01", "01 83 02"),    # holding register 0x0000 does not exist
    ("01 06 00 03 00 01", "01 86 02"),    # write to a register that does not exist
    ("01 06 00 02 00 00", "01 86 03"),    # address 0 is not a slave address
    ("01 06 00 02 00 f8", "01 86 03"),    # nor is 248
])
def test_exception_answers_are_exact(sim, req, ans):
    _, line = sim()
    assert line.xfer(with_crc(req), 5) == with_crc(ans)


def test_silence_for_other_slaves_and_bad_crc_then_resync(sim):
    _, line = sim()
    assert line.xfer(with_crc("02 04 00 00 00 0a"), timeout=0.2) == b""
    bad = bytearray(h("01 04 00 00 00 0a 70 0d"))
    bad[-1] ^= 0xFF
    assert line.xfer(bytes(bad), timeout=0.2) == b""
    assert len(line.xfer(h("01 04 00 00 00 0a 70 0d"))) == 25


def test_set_address_via_general_address_persists(sim, tmp_path):
    p, line = sim()
    req = with_crc("f8 06 00 02 00 05")
    assert line.xfer(req, 8) == req                       # the answer echoes the request
    assert line.xfer(h("01 04 00 00 00 0a 70 0d"), timeout=0.2) == b""   # old address silent
    assert len(line.xfer(with_crc("05 04 00 00 00 0a"))) == 25
    req = with_crc("05 06 00 01 03 e8")                   # alarm threshold 1000 W
    assert line.xfer(req, 8) == req
    line.close()
    stop(p)
    assert json.loads((tmp_path / "pzem_state.json").read_text())["address"] == 5
    _, line = sim("--address", "1")                       # factory default does not win
    assert line.xfer(with_crc("05 03 00 01 00 02"), 9) == with_crc("05 03 04 03 e8 00 05")


def write_clock(root, e0_ms, r0_ms):
    (root / "clock").write_text(f"{e0_ms} {r0_ms} 1")


def energy(line, addr=1):
    ans = line.xfer(with_crc(f"{addr:02x} 04 00 05 00 02"), 9)
    assert len(ans) == 9, ans
    return mb.u32(ans, 3)


def test_energy_follows_the_accelerated_clock_relay_and_reset(sim, tmp_path):
    # speed 3600: one real second is one meter hour; 1000 W draws 1 Wh per real ms
    (tmp_path / "load").write_text("1000")
    now = time.time_ns() // 1_000_000
    write_clock(tmp_path, 1_735_689_600_000, now)
    p, line = sim("--speed", "3600")
    e1, t1 = energy(line), time.monotonic()
    time.sleep(0.3)
    e2, t2 = energy(line), time.monotonic()
    expect = (t2 - t1) * 1000
    assert abs((e2 - e1) - expect) <= 0.1 * expect + 20, (e1, e2, expect)
    (tmp_path / "relay").write_text("0")                  # supply cut: nothing drawn
    energy(line)
    e3 = energy(line)
    time.sleep(0.2)
    assert energy(line) == e3
    ans = line.xfer(h("01 04 00 00 00 0a 70 0d"))
    r = regs_of(ans)
    assert r[0] > 2000 and mb.u32(ans, 5) == 0 and mb.u32(ans, 9) == 0 and r[8] == 0
    assert line.xfer(h("01 42 80 11"), 4) == h("01 42 80 11")
    assert energy(line) == 0


def test_energy_register_survives_restart(sim, tmp_path):
    (tmp_path / "load").write_text("3600")
    write_clock(tmp_path, 1_735_689_600_000, time.time_ns() // 1_000_000)
    p, line = sim("--speed", "3600")
    energy(line)
    time.sleep(0.2)
    e1 = energy(line)
    assert e1 > 0
    line.close()
    last = stop(p)
    assert last.startswith("pzem_sim: stopped") and '"answers": 2' in last
    saved = json.loads((tmp_path / "pzem_state.json").read_text())["energy_wh"]
    assert saved >= e1
    (tmp_path / "load").write_text("0")
    _, line = sim("--speed", "3600")
    assert energy(line) == saved


def test_corrupt_state_is_kept_aside(sim, tmp_path):
    (tmp_path / "pzem_state.json").write_text("{not json")
    _, line = sim()
    assert energy(line) == 0
    assert (tmp_path / "pzem_state.json.bad").read_text() == "{not json"


def test_fault_control_file(sim, tmp_path):
    p, line = sim("--fault", "none=1")                   # command line: never answer
    req = h("01 04 00 00 00 0a 70 0d")
    assert line.xfer(req, timeout=0.2) == b""
    ctl = tmp_path / "pzem_fault"
    ctl.write_text("crc=1,n=1")                          # the file replaces --fault
    ans = line.xfer(req)
    assert len(ans) == 25 and not mb.crc_ok(ans, 25)
    assert mb.crc_ok(line.xfer(req), 25)                 # n=1: one fault, then clean
    ctl.write_text("exc=1")
    assert line.xfer(req, 5) == with_crc("01 84 04")
    ctl.write_text("crc=2")                              # invalid: previous spec stays
    assert line.xfer(req, 5) == with_crc("01 84 04")
    ctl.unlink()                                         # back to --fault
    assert line.xfer(req, timeout=0.2) == b""
    stop(p)


def test_keeps_running_when_its_stdout_goes_away(tmp_path):
    """Started from a pipe whose reader then left: status lines must not kill it."""
    p = subprocess.Popen([sys.executable, "-m", "host_tools.pzem_sim", "--root", str(tmp_path)],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    try:
        assert b"ready" in p.stdout.readline()
        p.stdout.close()
        p.stderr.close()
        line = Line(tmp_path / "pzem.tty")
        (tmp_path / "pzem_fault").write_text("crc=2")       # invalid: reported on stderr
        assert len(line.xfer(h("01 04 00 00 00 0a 70 0d"))) == 25
        (tmp_path / "pzem_fault").write_text("")            # reported on stdout
        assert len(line.xfer(h("01 04 00 00 00 0a 70 0d"))) == 25
        line.close()
        p.terminate()
        assert p.wait(timeout=10) == 0
    finally:
        if p.poll() is None:
            p.kill()


@pytest.mark.parametrize("spec,err", [
    ("crc", "not key=value"), ("bogus=0.1", "unknown key"), ("crc=1.5", "bad value"),
    ("crc=0.6,none=0.6", "more than 1"), ("delay_ms=-1", "bad value"),
])
def test_bad_fault_specs_are_refused(spec, err):
    with pytest.raises(ValueError, match=err):
        pzem_sim.parse_faults(spec)


def test_bad_command_line_exits_with_a_message(tmp_path):
    r = subprocess.run([sys.executable, "-m", "host_tools.pzem_sim", "--root", str(tmp_path),
                        "--fault", "crc=7"], capture_output=True, text=True, cwd=REPO)
    assert r.returncode == 2 and "bad value '7' for crc" in r.stderr


# ---- the household load profile (simulated/loadprofile.py)
lp = pzem_sim.loadprofile
T0 = 1_735_689_600  # 2025-01-01 00:00 UTC


def test_profile_same_on_micropython_and_cpython():
    code = ("import json\nfrom simulated import loadprofile\nh = loadprofile.Household(3)\n"
            f"print(json.dumps([[h.watts({T0} + k * 937, 19800), h.pf({T0} + k * 937, 19800)]"
            " for k in range(400)]))")
    [got] = upy.run_json(code)
    hh = lp.Household(3)
    assert got == [[hh.watts(T0 + k * 937, 19800), hh.pf(T0 + k * 937, 19800)] for k in range(400)]


def test_profile_daily_shape_and_appliances():
    hh = lp.Household(1)
    days = 14

    def mean(h0, h1):
        xs = [hh.watts(T0 + d * 86400 + s) for d in range(days) for s in range(h0 * 3600, h1 * 3600, 60)]
        return sum(xs) / len(xs)
    night, evening = mean(1, 5), mean(18, 22)
    assert 60 < night < 250 and evening > 2 * night
    day = [hh.watts(T0 + s) for s in range(0, 86400, 10)]
    assert max(day) > 1500                      # kettle or water heater ran
    fridge_steps = sum(1 for a, b in zip(day, day[1:]) if abs(b - a - 110) <= 2 or abs(a - b - 110) <= 2)
    assert fridge_steps >= 20                   # the compressor switched on and off all day
    daily_wh = [sum(hh.watts(T0 + d * 86400 + s) for s in range(0, 86400, 60)) // 60 for d in range(days)]
    assert all(2000 < wh < 20000 for wh in daily_wh) and len(set(daily_wh)) == days
    assert lp.Household(2).watts(T0 + 7 * 3600) != hh.watts(T0 + 7 * 3600) or \
        lp.Household(2).watts(T0 + 19 * 3600) != hh.watts(T0 + 19 * 3600)
    assert all(0.5 <= hh.pf(T0 + s) <= 1.0 for s in range(0, 86400, 600))


@pytest.mark.parametrize("text,expect", [
    (None, None), ("1500", (1500, 1.0)), ("1500 0.8", (1500, 0.8)), ("800.6 -0.5", (800, -0.5)),
    ("0", (0, 1.0)), ("", None), ("abc", None), ("100 1.5", None), ("-5", None), ("100 0", None),
])
def test_override_file(tmp_path, text, expect):
    if text is not None:
        (tmp_path / "load").write_text(text)
    assert lp.override(str(tmp_path)) == expect


@pytest.mark.parametrize("text,expect", [
    (None, None), ("180", (180.0, None)), ("230 52.5", (230.0, 52.5)), ("0", (0.0, None)),
    ("", None), ("abc", None), ("-1", None), ("1001", None), ("230 0", None), ("1 2 3", None),
])
def test_supply_file(tmp_path, text, expect):
    """<root>/supply forces the simulators' voltage and frequency (power-quality tests)."""
    if text is not None:
        (tmp_path / "supply").write_text(text)
    assert lp.supply(str(tmp_path)) == expect

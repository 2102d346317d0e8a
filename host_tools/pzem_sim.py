"""PZEM-004T v3 simulator: the Modbus-RTU protocol on a pty, for the unix_sim meter.

    python -m host_tools.pzem_sim --root DIR [--link PATH] [--address 1] [--seed 1]
                                  [--fault SPEC] [--speed N] [--trace FILE]

It answers read input registers (0x04), read holding registers (0x03), write single
register (0x06), reset energy (0x42) and the general address 0xF8, with exception answers
for bad functions, registers and values, and silence for another slave address or a bad
CRC. The load follows simulated/loadprofile.py (or the forced load in DIR/load) at
the meter's own clock (DIR/clock, accelerated by --speed / METER_SPEED); nothing is drawn
while DIR/relay reads "0". DIR/supply, "V [Hz]", forces the voltage (and frequency) it
reports: sags and swells for the power-quality tests. The energy register persists in
DIR/pzem_state.json.

Fault injection (docs/pzem.md): SPEC is "kind=probability,..." with kinds crc, drop,
delay, none, garbage, exc, plus delay_ms=N (default 400), n=N (stop after N faults) and
seed=N. DIR/pzem_fault, when present, replaces --fault and is re-read when it changes.
The framing and CRC come from prepay/modbus.py, the firmware's own module.
"""
import argparse
import json
import os
import pty
import random
import select
import signal
import sys
import time
import tty
from pathlib import Path

from host_tools import sim_process
from prepay import modbus as mb
from simulated import loadprofile   # the household, shared with the unix_sim ADC (adc_sim)

REPO = Path(__file__).resolve().parent.parent

FAULT_KINDS = ("crc", "drop", "delay", "none", "garbage", "exc")
ENERGY_WRAP_WH = 10_000_000       # the PZEM counts 0..9999.999 kWh, then starts again
DEFAULT_ALARM_W = 23000           # the module's measuring range; no alarm by default
_MWS_PER_WH = 3_600_000
_STEP_MS = 5000                   # energy integration step in meter ms
_GAP_S = 0.02                     # silence that ends an incomplete request frame


def say(msg, err=False):
    """Print a status line; a closed stdout/stderr (the spawner went away) is not fatal."""
    try:
        print(msg, file=sys.stderr if err else sys.stdout, flush=True)
    except (BrokenPipeError, OSError):
        pass


def parse_faults(spec):
    """'crc=0.1,none=0.05,delay_ms=300,n=5' -> dict. Raises ValueError with the reason."""
    out = {"p": {}, "delay_ms": 400, "n": None, "seed": None}
    for part in (spec or "").replace(" ", "").split(","):
        if not part:
            continue
        key, sep, val = part.partition("=")
        if not sep:
            raise ValueError(f"fault spec: '{part}' is not key=value")
        try:
            if key in FAULT_KINDS:
                p = float(val)
                if not 0.0 <= p <= 1.0:
                    raise ValueError
                out["p"][key] = p
            elif key in ("delay_ms", "n", "seed"):
                v = int(val)
                if v < 0:
                    raise ValueError
                out[key] = v
            else:
                raise KeyError
        except KeyError:
            raise ValueError(f"fault spec: unknown key '{key}' (kinds: {', '.join(FAULT_KINDS)};"
                             " options: delay_ms, n, seed)") from None
        except ValueError:
            raise ValueError(f"fault spec: bad value '{val}' for {key}") from None
    if sum(out["p"].values()) > 1.0 + 1e-9:
        raise ValueError("fault spec: probabilities add up to more than 1")
    return out


class Faults:
    """The active fault spec: from --fault, replaced by DIR/pzem_fault while that exists."""

    def __init__(self, cli_spec, control):
        self.cli = parse_faults(cli_spec)
        self.control = Path(control)
        self._sig = None
        self.errors = 0
        self._use(self.cli)

    def _use(self, spec):
        self.spec = spec
        self.left = spec["n"]
        self.rng = random.Random(spec["seed"])

    def poll(self):
        """Re-read the control file when it appears, changes or disappears."""
        try:
            st = self.control.stat()
            sig = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            sig = None
        if sig == self._sig:
            return
        self._sig = sig
        if sig is None:
            self._use(self.cli)
            return
        try:
            self._use(parse_faults(self.control.read_text()))
            say(f"pzem_sim: faults {self.control.read_text().strip() or 'off'}")
        except (OSError, ValueError) as e:   # keep the previous spec; say why
            self.errors += 1
            say(f"pzem_sim: {self.control}: {e}; faults unchanged", err=True)

    def pick(self):
        """The fault to apply to the next answer, or None."""
        if self.left == 0 or not self.spec["p"]:
            return None
        r = self.rng.random()
        for kind, p in self.spec["p"].items():
            if r < p:
                if self.left is not None:
                    self.left -= 1
                return kind
            r -= p
        return None


class MeterClock:
    """The board's persisted clock file "e0_ms r0_ms valid": meter_ms = e0 + (real - r0) * speed."""

    def __init__(self, path, speed):
        self.path = Path(path)
        self.speed = speed
        self._sig = None
        self.e0 = self.r0 = None

    def meter_ms(self, real_ms):
        try:
            st = self.path.stat()
            if (st.st_mtime_ns, st.st_ino) != self._sig:
                e0, r0, _valid = self.path.read_text().split()
                self.e0, self.r0 = int(e0), int(r0)
                self._sig = (st.st_mtime_ns, st.st_ino)
        except (OSError, ValueError):
            pass   # no (or a half-written) clock yet: keep the last one
        if self.e0 is None:
            return real_ms
        return self.e0 + (real_ms - self.r0) * self.speed


class Pzem:
    """The module's state and its answers; the transport lives in Sim."""

    def __init__(self, root, address, seed, volts, hz, utc_offset_s):
        self.root = Path(root)
        self.state_path = self.root / "pzem_state.json"
        self.household = loadprofile.Household(seed)
        self.volts, self.hz, self.utc_offset_s = volts, hz, utc_offset_s
        self.address, self.alarm_w, self.energy_wh, self.res_mws = address, DEFAULT_ALARM_W, 0, 0
        self._load_state()
        self.dirty = False

    def _load_state(self):
        try:
            st = json.loads(self.state_path.read_text())
            addr, alarm, wh, res = (int(st["address"]), int(st["alarm_w"]),
                                    int(st["energy_wh"]), int(st["res_mws"]))
            if not (mb.ADDR_MIN <= addr <= mb.ADDR_MAX and 0 <= alarm <= 0xFFFF
                    and 0 <= wh < ENERGY_WRAP_WH and 0 <= res < _MWS_PER_WH):
                raise ValueError("value out of range")
        except FileNotFoundError:
            return
        except (OSError, ValueError, KeyError, TypeError) as e:
            bad = self.state_path.with_suffix(".json.bad")
            os.replace(self.state_path, bad)
            say(f"pzem_sim: {self.state_path}: {e!r}; kept as {bad.name}, starting from zero",
                err=True)
            return
        self.address, self.alarm_w, self.energy_wh, self.res_mws = addr, alarm, wh, res

    def save(self):
        tmp = self.state_path.with_suffix(".json.tmp")
        tmp.write_text(json.dumps({"address": self.address, "alarm_w": self.alarm_w,
                                   "energy_wh": self.energy_wh, "res_mws": self.res_mws}))
        os.replace(tmp, self.state_path)
        self.dirty = False

    def relay_closed(self):
        try:
            return (self.root / "relay").read_text().strip() != "0"
        except OSError:
            return True   # no relay file: a plain PZEM on a live circuit

    def load(self, meter_ms, switches=None):
        """(watts, |pf|) drawn at meter time meter_ms. switches: (relay closed, forced
        load) when the caller already read them (they change in real time, not meter time)."""
        closed, forced = switches or (self.relay_closed(), loadprofile.override(str(self.root)))
        if not closed:
            return 0, 0.0
        if forced is not None:
            return forced[0], abs(forced[1])
        t = meter_ms // 1000
        return (self.household.watts(t, self.utc_offset_s),
                self.household.pf(t, self.utc_offset_s))

    def integrate(self, meter_ms, elapsed_ms):
        """Add the energy drawn over the elapsed_ms of meter time that ended at meter_ms."""
        if elapsed_ms <= 0:
            return
        step = max(_STEP_MS, elapsed_ms // 100000)
        switches = (self.relay_closed(), loadprofile.override(str(self.root)))
        t = meter_ms - elapsed_ms
        mws = self.res_mws
        while t < meter_ms:
            dt = min(step, meter_ms - t)
            if switches[0]:
                mws += (switches[1][0] if switches[1] else
                        self.household.watts(t // 1000, self.utc_offset_s)) * dt
            t += dt
        d = mws // _MWS_PER_WH
        if d:
            self.energy_wh = (self.energy_wh + d) % ENERGY_WRAP_WH
            self.dirty = True
        self.res_mws = mws - d * _MWS_PER_WH

    def registers(self, meter_ms):
        """The ten input registers at meter_ms."""
        w, pf = self.load(meter_ms)
        t = meter_ms // 1000
        jit = (t * 2654435761 >> 7) % 11 - 5                       # +-0.5 V of noise
        day = 40 if (t + self.utc_offset_s) % 86400 < 6 * 3600 else 0   # night: +4 V
        dv = max(0, int(self.volts * 10) - 30 + day + jit - w * 15 // 1000)  # 1.5 V/kW sag
        forced = loadprofile.supply(str(self.root))     # ROOT/supply: a sag, swell or Hz step
        if forced is not None:
            dv = int(forced[0] * 10 + 0.5)
        v = dv / 10
        i_ma = round(w * 1000 / (v * pf)) if w > 0 and pf > 0 and v > 0 else 0
        p_dw = w * 10
        hz = int(self.hz * 10) + (t * 40503 >> 5) % 3 - 1
        if forced is not None and forced[1] is not None:
            hz = int(forced[1] * 10 + 0.5)
        return [dv, i_ma & 0xFFFF, i_ma >> 16, p_dw & 0xFFFF, p_dw >> 16,
                self.energy_wh & 0xFFFF, self.energy_wh >> 16, hz,
                round(pf * 100) if w > 0 else 0, 0xFFFF if w > self.alarm_w else 0]

    def answer(self, req, meter_ms):
        """The answer to one request frame (bytes), or None for silence. Also returns the
        registers served by a read, for the trace."""
        n = len(req)
        if n < 4 or not mb.crc_ok(req, n):
            return None, None
        addr, fc = req[0], req[1]
        if addr != self.address and addr != mb.ADDR_GENERAL:
            return None, None
        out = bytearray(mb.LEN_MAX)
        out[0] = addr

        def exc(code):
            out[1], out[2] = fc | mb.FC_ERROR, code
            return bytes(out[:mb.put_crc(out, 3)]), None

        if fc in (mb.FC_READ_INPUT, mb.FC_READ_HOLDING):
            if n != mb.LEN_READ_REQ:
                return exc(mb.EXC_ILLEGAL_DATA)
            reg, cnt = mb.u16(req, 2), mb.u16(req, 4)
            if fc == mb.FC_READ_INPUT:
                base, regs = 0, self.registers(meter_ms)
            else:
                base, regs = mb.HREG_ALARM_W, [self.alarm_w, self.address]
            if cnt < 1 or cnt > len(regs):
                return exc(mb.EXC_ILLEGAL_DATA)
            if reg < base or reg - base + cnt > len(regs):
                return exc(mb.EXC_ILLEGAL_ADDRESS)
            sel = regs[reg - base:reg - base + cnt]
            out[1], out[2] = fc, 2 * cnt
            for k, v in enumerate(sel):
                out[3 + 2 * k], out[4 + 2 * k] = v >> 8, v & 0xFF
            return bytes(out[:mb.put_crc(out, 3 + 2 * cnt)]), sel
        if fc == mb.FC_WRITE_SINGLE:
            if n != mb.LEN_WRITE:
                return exc(mb.EXC_ILLEGAL_DATA)
            reg, val = mb.u16(req, 2), mb.u16(req, 4)
            if reg == mb.HREG_ALARM_W:
                self.alarm_w = val
            elif reg == mb.HREG_ADDRESS:
                if not mb.ADDR_MIN <= val <= mb.ADDR_MAX:
                    return exc(mb.EXC_ILLEGAL_DATA)
                self.address = val
            else:
                return exc(mb.EXC_ILLEGAL_ADDRESS)
            self.save()
            return bytes(req), None          # the answer echoes the request
        if fc == mb.FC_RESET_ENERGY:
            if n != mb.LEN_RESET:
                return exc(mb.EXC_ILLEGAL_DATA)
            self.energy_wh = self.res_mws = 0
            self.save()
            return bytes(req), None
        return exc(mb.EXC_ILLEGAL_FUNCTION)


def request_len(buf):
    """Length of the request at the head of buf if its function fixes it, else None."""
    if len(buf) < 2:
        return None
    fc = buf[1]
    if fc in (mb.FC_READ_INPUT, mb.FC_READ_HOLDING, mb.FC_WRITE_SINGLE):
        return mb.LEN_READ_REQ
    if fc == mb.FC_RESET_ENERGY:
        return mb.LEN_RESET
    return None


class Sim:
    def __init__(self, a):
        self.root = Path(a.root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.link = Path(a.link) if a.link else self.root / "pzem.tty"
        offset_min = a.utc_offset_min
        if offset_min is None:       # follow the meter's own config when there is one
            try:
                doc = json.loads((self.root / "config.json").read_text())
                offset_min = int(doc.get("meter", {}).get("utc_offset_min", 0))
            except (OSError, ValueError, AttributeError, TypeError):
                offset_min = 0
        self.pzem = Pzem(self.root, a.address, a.seed, a.volts, a.hz, offset_min * 60)
        self.clock = MeterClock(self.root / "clock", a.speed)
        self.faults = Faults(a.fault, self.root / "pzem_fault")
        self.speed = a.speed
        self.byte_s = 10.0 / a.baud if a.baud else 0.0
        self.trace = open(a.trace, "a") if a.trace else None
        self.out = []          # [due (monotonic s), bytes]: one transmitter, FIFO
        self.rx = bytearray()
        self.rx_t = 0.0
        self.stats = {"requests": 0, "answers": 0, "ignored": 0, "faults": 0}
        self.running = True
        self.master, self.slave = pty.openpty()
        tty.setraw(self.slave)          # no echo, no line discipline: a serial line
        os.set_blocking(self.master, False)
        self.slave_name = os.ttyname(self.slave)
        tmp = self.link.with_name(self.link.name + ".tmp")
        try:
            tmp.unlink()
        except FileNotFoundError:
            pass
        os.symlink(self.slave_name, tmp)
        os.replace(tmp, self.link)
        self.wake_r, wake_w = os.pipe()   # signals wake the select loop at once
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        self.real0 = time.time_ns() // 1_000_000
        self.last_real = self.real0

    def meter_ms(self):
        """Meter time now; also integrates the energy drawn since the last call."""
        real = time.time_ns() // 1_000_000
        m = self.clock.meter_ms(real)
        self.pzem.integrate(m, (real - self.last_real) * self.speed)
        self.last_real = real
        return m

    def send(self, data, delay_s=0.0):
        now = time.monotonic()
        due = max([now + delay_s] + [d for d, _ in self.out[-1:]])
        if self.byte_s:               # wire time at the emulated baud rate
            for k in range(len(data)):
                self.out.append([due + k * self.byte_s, data[k:k + 1]])
        else:
            self.out.append([due, data])

    def handle(self, req):
        self.stats["requests"] += 1
        self.faults.poll()
        ans, regs = self.pzem.answer(req, self.meter_ms())
        fault = None
        if ans is None:
            self.stats["ignored"] += 1
        else:
            self.stats["answers"] += 1
            fault = self.faults.pick()
            if fault:
                self.stats["faults"] += 1
            self.inject(ans, fault, req[0])
        if self.trace:
            self.trace.write(json.dumps({"t": time.time(), "req": req.hex(),
                                         "ans": ans.hex() if ans else None,
                                         "fault": fault, "regs": regs}) + "\n")
            self.trace.flush()

    def inject(self, ans, fault, addr):
        rng = self.faults.rng
        if fault is None:
            self.send(ans)
        elif fault == "crc":
            self.send(ans[:-1] + bytes([ans[-1] ^ 0x5A]))
        elif fault == "drop":
            b = bytearray(ans)
            for _ in range(rng.randint(1, min(3, len(b) - 1))):
                del b[rng.randrange(len(b))]
            self.send(bytes(b))
        elif fault == "delay":
            cut = rng.randint(1, len(ans) - 1)
            self.send(ans[:cut])
            self.send(ans[cut:], self.faults.spec["delay_ms"] / 1000)
        elif fault == "garbage":   # line noise that does not start with the slave address
            n = rng.randint(1, mb.LEN_MAX)
            first = rng.choice([x for x in range(256) if x != addr])
            self.send(bytes([first] + [rng.randrange(256) for _ in range(n - 1)]))
        elif fault == "exc":
            out = bytearray([ans[0], ans[1] | mb.FC_ERROR, mb.EXC_SLAVE_ERROR, 0, 0])
            mb.put_crc(out, 3)
            self.send(bytes(out))
        # "none": no answer at all

    def take_frames(self, now):
        while self.rx:
            n = request_len(self.rx)
            if n is not None and len(self.rx) >= n:
                frame = bytes(self.rx[:n])
                if mb.crc_ok(frame, n):
                    del self.rx[:n]
                    self.handle(frame)
                    continue
            elif now - self.rx_t < _GAP_S:
                return                  # wait for the rest, or for the silence
            frame = bytes(self.rx)      # silence ended it (or a bad CRC): one frame
            self.rx.clear()
            self.handle(frame)

    def flush_out(self, now):
        while self.out and self.out[0][0] <= now:
            _, data = self.out.pop(0)
            try:
                os.write(self.master, data)
            except (BlockingIOError, OSError):
                pass                    # nobody reading: bytes on a dead line are lost

    def run(self):
        say(f"pzem_sim: ready {self.link} -> {self.slave_name} address {self.pzem.address}"
            f" speed {self.speed}")
        last_save = time.monotonic()
        while self.running:
            now = time.monotonic()
            wait = 0.5
            if self.out:
                wait = min(wait, max(0.0, self.out[0][0] - now))
            if self.rx:
                wait = min(wait, _GAP_S)
            r, _, _ = select.select([self.master, self.wake_r], [], [], wait)
            if self.wake_r in r:            # a signal arrived: its handler has run
                os.read(self.wake_r, 64)
                continue
            now = time.monotonic()
            if r:
                try:
                    data = os.read(self.master, 512)
                except (BlockingIOError, OSError):
                    data = b""
                if data:
                    self.rx += data
                    self.rx_t = now
            self.take_frames(now)
            self.flush_out(time.monotonic())
            if now - last_save >= 1.0:
                self.meter_ms()
                if self.pzem.dirty:
                    self.pzem.save()
                last_save = now
        self.close()

    def close(self):
        self.meter_ms()
        self.pzem.save()
        try:
            if os.readlink(self.link) == self.slave_name:
                self.link.unlink()
        except OSError:
            pass
        os.close(self.master)
        os.close(self.slave)
        say(f"pzem_sim: stopped {json.dumps(self.stats)} energy_wh {self.pzem.energy_wh}")


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--root", required=True, help="the meter's flash directory (METER_ROOT)")
    ap.add_argument("--link", help="symlink to the pty (default ROOT/pzem.tty)")
    ap.add_argument("--address", type=int, default=1,
                    help="factory slave address, used when ROOT/pzem_state.json has none")
    ap.add_argument("--seed", type=int, default=1, help="household load profile seed")
    ap.add_argument("--fault", default="", help="fault spec, e.g. crc=0.1,none=0.05")
    ap.add_argument("--speed", type=int, default=int(os.environ.get("METER_SPEED") or 1),
                    help="meter seconds per real second (default METER_SPEED or 1)")
    ap.add_argument("--volts", type=float, default=230.0, help="nominal mains voltage")
    ap.add_argument("--hz", type=float, default=50.0, help="nominal mains frequency")
    ap.add_argument("--utc-offset-min", type=int, default=None,
                    help="local time offset for the daily shape (default: ROOT/config.json)")
    ap.add_argument("--baud", type=int, default=0,
                    help="emulate wire time at this baud rate (0: answers arrive at once)")
    ap.add_argument("--trace", help="append one JSON line per request to this file")
    a = ap.parse_args(argv)
    if not mb.ADDR_MIN <= a.address <= mb.ADDR_MAX:
        ap.error("--address must be 1..247")
    if a.speed < 1:
        ap.error("--speed must be >= 1")
    try:
        parse_faults(a.fault)
    except ValueError as e:
        ap.error(str(e))
    sim = Sim(a)

    def stop(*_):
        sim.running = False
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    sim.run()


def spawn(root, *args, env=None, timeout=10):
    """Start the simulator as a process and wait for its ready line (tests, demo). Its output
    goes to ROOT/pzem_sim.log (a file, so nobody has to drain a pipe). Stop it with
    proc.terminate(); proc.wait(): it saves its state on SIGTERM."""
    Path(root).mkdir(parents=True, exist_ok=True)
    return sim_process.start([sys.executable, "-m", "host_tools.pzem_sim", "--root", str(root),
                              *map(str, args)], Path(root) / "pzem_sim.log", "pzem_sim",
                             lambda out: "pzem_sim: ready" in out, cwd=str(REPO), env=env,
                             timeout=timeout)

if __name__ == "__main__":
    main()

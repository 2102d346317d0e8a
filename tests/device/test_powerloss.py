"""Power-loss torture test: the real firmware (Board -> Meter -> run, as device/main.py,
compiled bundle, unix port, 128k heap) meters a PZEM simulator's load at an accelerated
clock and is SIGKILLed at random instants, over 200 times, restarting each time. The coil
drops with the power (the test writes the relay file "0" after each kill).

After every restart, and on every state line the meter printed, the invariants hold:
  - credit never increases without a token (balance <= last seen + tokens credited);
  - every unit of money is accounted for (given + tokens + debt == balance + spent);
  - all energy the simulator delivered is paid for, within one pre-debit quantum in total
    (in fact never short at all); forfeits at a restart are at most floor + one quantum;
  - the state is never corrupt (a torn slot falls back to the other one);
  - the relay follows credit and policy (closed only with energy pre-paid, cut only for
    lack of credit, the coil matching the decision);
  - a token accepted before a kill is never accepted again, and each is credited once.
The figures are printed (pytest -s)."""
import json
import random
import signal
import subprocess
import threading
import time

import bundle
import upy
from host_tools import pzem_sim
from prepay.opaygo import Codec

CYCLES = 210
SPEED = 120                      # meter seconds per real second
EPOCH = 1737331200
KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"
START = 123456789
RATE = 1000                      # minor units per kWh = 1 minor unit per Wh
UNIT = 100
VALUE = 10                       # each top-up: 10 x 100 = 1,000 minor units (1 kWh)
RECONNECT = 100
LOADS = (300, 1500, 2500, 5000)  # W, varied so the pre-debit quantum adapts
# pre-debit floor: one window (up to 4 when windows overrun) at measure.max_power_w, +1 Wh
FLOOR_WH = (25000 * 4000 + 3599999) // 3600000 + 1
Q_MAX_WH = (max(LOADS) * 60 + 3599) // 3600          # quantum: 60 s at the largest load


def _config(root):
    cfg = {"meter": {"id": "pl-1"}, "mqtt": {"host": ""}, "web": {"port": 0},
           "measure": {"source": "pzem"}, "tariff": {"rates": {"std": RATE}},
           "credit": {"initial": 1500, "reconnect_min": RECONNECT},
           "token": {"key": KEY, "starting_code": START, "unit_minor": UNIT}}
    (root / "config.json").write_text(json.dumps(cfg))


def _run_once(root, run_s, inbox, inbox_at):
    env = upy.local(upy.env(MICROPYPATH=bundle.micropypath(), METER_ROOT=root,
                            METER_SPEED=SPEED, METER_EPOCH=EPOCH))
    p = subprocess.Popen(upy.cmd() + [upy.script_path("powerloss_main.py")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                         cwd=str(upy.REPO))
    timer = None
    if inbox:
        def drop():
            tmp = root / "inbox.tmp"
            tmp.write_text(inbox)
            tmp.rename(root / "inbox")
        timer = threading.Timer(inbox_at, drop)
        timer.start()
    time.sleep(run_s)
    p.send_signal(signal.SIGKILL)          # the power goes, at a random instant
    out, err = p.communicate()
    if timer:
        timer.cancel()
    (root / "relay").write_text("0")       # ...and with it the relay coil
    lines = []
    for raw in out.decode(errors="replace").splitlines():
        try:
            lines.append(json.loads(raw))
        except ValueError:
            pass                           # a line cut by the kill
    return lines, p.returncode, err.decode(errors="replace")


def test_sigkill_torture(tmp_path):
    root = tmp_path
    _config(root)
    (root / "load").write_text("2500 1")
    codec = Codec(KEY, START)
    tokens = [codec.encode(VALUE, 2 * (i + 1)) for i in range(200)]
    rnd = random.Random(20250120)
    sim = pzem_sim.spawn(root, "--speed", SPEED)
    t_start = time.monotonic()
    f = {"cycles": 0, "boot_kills": 0, "torn_fallbacks": 0, "forfeit_wh": 0, "forfeit_max_wh": 0,
         "writes": 0, "accepted": 0, "replays_rejected": 0, "cut_lines": 0, "lines": 0,
         "unpaid_max_um": None, "restores": 0, "recovered_wh": 0}
    accepted = set()            # tokens known to be credited
    seen_accept = {}            # token -> times a run printed "accepted" for it
    prev = None                 # last state line of the previous run
    ref = None                  # last settled state line of any earlier run
    e0 = None                   # simulator register at the first read
    e_last = None
    try:
        for cycle in range(CYCLES):
            (root / "load").write_text("%d 1" % rnd.choice(LOADS))
            inbox = None
            if prev is not None and prev["bal"] < 150 and rnd.random() < 0.3:
                nxt = next(t for t in tokens if t not in accepted)
                inbox = nxt
            elif accepted and rnd.random() < 0.25:
                inbox = rnd.choice(sorted(accepted))          # a replay
            run_s = rnd.uniform(0.03, 0.9)
            lines, rc, err = _run_once(root, run_s, inbox, rnd.uniform(0.0, run_s))
            assert rc == -signal.SIGKILL, err[-2000:]
            assert not any("config_errors" in x for x in lines), lines[:1]
            assert "Traceback" not in err, err[-3000:]
            f["cycles"] += 1
            states = [x for x in lines if "bal" in x]
            if not states or states[-1]["win"] == 0:
                f["boot_kills"] += 1
            if not states:
                continue
            boot = states[0]
            assert boot.get("boot") == 1
            assert boot["corrupt_ev"] == 0              # the state was never lost
            f["torn_fallbacks"] += boot["torn"]
            settled = next((s["restored"] for s in states if s["restored"]), None)
            if settled:
                f["restores"] += 1
                used, fwh, fminor = settled
                assert used <= FLOOR_WH + Q_MAX_WH and fwh <= FLOOR_WH + Q_MAX_WH, settled
                f["recovered_wh"] += used
                f["forfeit_wh"] += fwh
                f["forfeit_max_wh"] = max(f["forfeit_max_wh"], fwh)
            # tokens credited exactly once: money and token memory agree
            for t in tokens[:boot["count"] // 2]:
                accepted.add(t)             # persisted, even if the kill cut the reply
            known = set(accepted)
            # token results printed in this run
            for x in lines:
                if "tok" in x:
                    t = x["tok"]
                    if x["r"] == "accepted":
                        assert t not in known, "token accepted twice: %s" % t
                        known.add(t)
                        seen_accept[t] = seen_accept.get(t, 0) + 1
                        accepted.add(t)
                    else:
                        assert x["r"] in ("used", "old"), x
                        assert t in accepted, x      # only codes credited before
                        f["replays_rejected"] += 1
            for s in states:
                assert s["topped"] == VALUE * UNIT * (s["count"] // 2), s
            settled = [s for s in states if not s["pending"]]
            if ref is not None:
                # credit never increases without a token (the boot line shows the lower
                # bound until the first reading settles the power loss)
                for s in (boot, settled[0]) if settled else (boot,):
                    assert s["bal"] <= ref["bal"] + (s["topped"] - ref["topped"]), (ref, s)
                assert boot["topped"] >= ref["topped"]       # a credited token stays credited
                if settled:
                    assert settled[0]["wh"] >= ref["wh"]     # the register never goes back
            if settled:
                ref = settled[-1]            # the last line with settled (true) figures
            for i, s in enumerate(states):
                _check_line(s, states[i + 1:i + 4], f)
            # ---- energy: everything the simulator delivered is paid for, on every line
            for s in settled:
                if s["reg"] < 0:
                    continue
                if e0 is None:
                    e0 = s["reg"]
                spent = s["energy_um"] + s["forfeit_um"]
                unpaid = (s["reg"] - e0) * RATE * 1000 - spent
                f["unpaid_max_um"] = unpaid if f["unpaid_max_um"] is None else max(
                    f["unpaid_max_um"], unpaid)
                assert unpaid <= FLOOR_WH * RATE * 1000, (e0, s)
                e_last = (s["reg"], spent)
            f["writes"] += states[-1]["writes"]
            f["lines"] += len(states)
            prev = states[-1]
    finally:
        sim.terminate()
        sim.wait()
    elapsed = time.monotonic() - t_start
    assert f["cycles"] >= 200 and f["restores"] > 50
    assert all(n == 1 for n in seen_accept.values())
    f["accepted"] = len(accepted)
    e, spent = e_last
    delivered = e - e0
    over = spent - delivered * RATE * 1000
    assert over >= -FLOOR_WH * RATE * 1000
    print("\npower-loss torture: %d SIGKILLs (%d before the first window), %.0f s real, "
          "%.1f meter-hours" % (f["cycles"], f["boot_kills"], elapsed, elapsed * SPEED / 3600))
    print("  energy delivered by the simulator %d Wh; paid %.3f minor units; unpaid at worst "
          "%.3f minor units on any state line (allowed: the pre-debit floor, %d)"
          % (delivered, spent / 1e6, f["unpaid_max_um"] / 1e6, FLOOR_WH * RATE // 1000))
    print("  restarts with energy pre-paid: %d; used after the last save and read back from "
          "the PZEM register: %d Wh; forfeited: %d Wh (max %d Wh at one restart, bound %d Wh); "
          "paid beyond delivered in total %.3f minor units"
          % (f["restores"], f["recovered_wh"], f["forfeit_wh"], f["forfeit_max_wh"],
             FLOOR_WH + Q_MAX_WH, over / 1e6))
    print("  state writes %d (%.1f per run: a restart settles and re-reserves); torn slots "
          "survived %d; corrupt states 0; tokens accepted %d (each once), replays rejected %d; "
          "state lines checked %d, of which relay open for lack of credit %d"
          % (f["writes"], f["writes"] / f["cycles"], f["torn_fallbacks"], f["accepted"],
             f["replays_rejected"], f["lines"], f["cut_lines"]))


def _check_line(s, after, f):
    """One state line: money conserved, relay decision consistent with credit and policy."""
    if s["pending"]:
        assert not s["closed"] and not s["coil"], s         # open until settled
        return
    lhs = (s["given"] + s["topped"] + s["debt"] + s["em_owed"]) * 10**6
    rhs = (s["credit"] * 10**6 + s["reserve_um"] + s["energy_um"] + s["standing"] * 10**6
           + s["forfeit_um"])
    assert lhs == rhs, s
    assert s["credit"] >= 0 and s["reserve_um"] >= 0 and s["debt"] >= 0
    if s["closed"]:
        assert s["reason"] in ("ok", "friendly"), s
        assert s["paid_wh"] > s["wh"], s                    # supply only with energy pre-paid
        assert s["reserve_um"] >= (s["paid_wh"] - s["wh"]) * s["rmax"], s
    else:
        assert s["reason"] == "no_credit", s                # nothing else configured
        f["cut_lines"] += 1
        if s["bal"] >= RECONNECT:                           # a top-up just arrived:
            assert any(a["closed"] for a in after) or len(after) < 3 or all(
                a["win"] <= s["win"] + 1 for a in after), (s, after)
    if s["win"] >= 1 and s["closed"] != s["coil"]:
        # the coil follows the decision within the same window
        assert False, s

"""The unix_sim meter's simulated analog front-end as its own process, for the analog meter
as host_tools.pzem_sim is for the PZEM one.

    python -m host_tools.adc_feed --root DIR [--seed N]

socat makes the pty DIR/adc.tty and runs boards/unix_sim/adc_feeder.py under the
unix-port MicroPython with its stdin/stdout on the other end: the firmware's own synthesis
(viper), not a second implementation. The meter's board.adc() finds DIR/adc.tty and asks
for each window over it (boards/unix_sim/adc_link.py), so its heap holds only what an
ESP32's would. The load follows DIR/load or the household profile (seed --seed, else
METER_SEED) in DIR/config.json's local time, at the meter time each request carries;
METER_VOLTS and METER_HZ set the supply. socat's and the feeder's messages go to
DIR/adc_feed.log.

The feeder runs from the source tree (the board's directory, and the repository root for the
package simulated/ that it shares with pzem_sim): it is simulated hardware, not firmware, so
it needs no bundle and its compile costs no meter heap.
Stop it with proc.terminate(): the feeder ends when socat closes its stdin. A meter killed
mid-window leaves at most a stale answer in the pty, which the next window drops.
"""
import argparse
import os
import shutil
import sys
from pathlib import Path

from host_tools import sim_process

REPO = Path(__file__).resolve().parent.parent
LINK = "adc.tty"


def command(micropython=None):
    """socat's argv, run with cwd = the meter's root (so no path goes through socat's
    address syntax but the MicroPython and script paths)."""
    if micropython is None:
        from host_tools.fleet import MICROPYTHON as micropython
    return [shutil.which("socat") or "socat", "PTY,link=%s,rawer" % LINK,
            "EXEC:%s %s" % (micropython, REPO / "boards" / "unix_sim" / "adc_feeder.py")]


def feeder_env(root, seed=None, env=None):
    """os.environ, plus env (e.g. METER_VOLTS), for the feeder of the meter at root."""
    e = dict(os.environ)
    e.update({k: str(v) for k, v in (env or {}).items()})
    e["MICROPYPATH"] = ":".join((".frozen", str(REPO / "boards" / "unix_sim"), str(REPO)))
    e["METER_ROOT"] = str(Path(root).resolve())
    if seed is not None:
        e["METER_SEED"] = str(int(seed))
    return e


def spawn(root, seed=None, env=None, timeout=10):
    """Start the feeder and wait until it answers on ROOT/adc.tty; returns the socat Popen.
    env: variables added to os.environ (METER_SEED, METER_VOLTS, METER_HZ)."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    link = root / LINK
    return sim_process.start(command(), root / "adc_feed.log", "adc_feed",
                             lambda out: "adc_feed: ready" in out and link.exists(),
                             cwd=str(root), env=feeder_env(root, seed, env), timeout=timeout)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--root", required=True, help="the meter's flash directory (METER_ROOT)")
    ap.add_argument("--seed", type=int, help="household load profile seed (else METER_SEED)")
    a = ap.parse_args(argv)
    env = feeder_env(a.root, a.seed)
    os.chdir(a.root)
    argv = command()
    os.execvpe(argv[0], argv, env)


if __name__ == "__main__":
    main(sys.argv[1:])

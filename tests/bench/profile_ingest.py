"""Where a gateway spends its CPU on ingest: one of the bench's runs
(tests/bench/bench_gateway_ingest.py) with the `python -m gateway` process sampled by
py-spy (every thread, idle time excluded). Not collected by `make bench`; run it by hand:

    .venv/bin/python tests/bench/profile_ingest.py [--records 100] [--batch 1] [--pg] [--top 30]

`--batch 50 --records 500` is the backlog run; `--pg` stores on a throwaway PostgreSQL
server (tests/pgcluster.py, fsync on, as the bench), whose backends' CPU py-spy cannot see:
their share shows as the gateway's idle time.

Prints the functions with the most samples on CPU by self time and by inclusive time,
each as a share of all samples, and the records/s of the run (slowed by the sampling).
"""
import argparse
import collections
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import bench_gateway_ingest as B  # noqa: E402

FRAME = re.compile(r"^(.*) \((.*?)(?::\d+)?\)$")


def spy(pid, out, gil=False):
    exe = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    return subprocess.Popen([exe, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                             "--nonblocking"] + (["--gil"] if gil else []) + ["--output", str(out)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def summary(raw, top, lines=False):
    """(self, inclusive) sample counts per function (per line with `lines`) from py-spy's
    collapsed stacks."""
    own, incl, total = collections.Counter(), collections.Counter(), 0
    for line in Path(raw).read_text().splitlines():
        stack, _, n = line.rpartition(" ")
        n = int(n)
        total += n
        frames = []
        for f in stack.split(";"):
            m = FRAME.match(f)
            name = "%s (%s)" % (m.group(1), Path(m.group(2)).name) if m else f
            if lines and m:
                name = "%s (%s)" % (m.group(1), Path(f[f.rindex("(") + 1:-1]).name)
            frames.append(name)
        own[frames[-1]] += n
        for name in set(frames):
            incl[name] += n
    for title, c in (("self", own), ("inclusive", incl)):
        print("\n%s time, top %d of %d samples on CPU:" % (title, top, total))
        for name, n in c.most_common(top):
            print("  %5.1f %%  %s" % (100.0 * n / total, name))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=100)
    ap.add_argument("--batch", type=int, default=1, help="records per message")
    ap.add_argument("--pg", action="store_true", help="PostgreSQL instead of SQLite")
    ap.add_argument("--top", type=int, default=30)
    ap.add_argument("--gil", action="store_true",
                    help="only samples holding the GIL (what competes with paho's thread)")
    ap.add_argument("--lines", action="store_true", help="self time per source line")
    a = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="profile-ingest-"))
    b = B.Broker(tmp / "mq", users=B.USERS, extra_conf=B.BROKER_CONF,
                 gateway_users=tuple(B.USERS)).start()
    cluster = B.Cluster(durable=True).start() if a.pg else None
    db = cluster.create("profile") if cluster else tmp / "p.db"
    B.make_db(db)
    gw, port = B.gateway(db, b, "gw-profile")
    sampler = spy(gw.pid, tmp / "raw.txt", a.gil)
    try:
        pubs = B.publish(b, a.records, a.batch)
        rate = B.measure([port], B.METERS * a.records)
        for p in pubs:
            p.communicate(timeout=120)
        st = B.health(port)["broker"]["stats"]
    finally:
        B.stop(gw)
        sampler.wait(30)
        b.stop()
        if cluster:
            cluster.remove()
    print("%d records in messages of %d: %.0f records/s under the sampler"
          % (B.METERS * a.records, a.batch, rate))
    print("ingest: %d batches (%.0f messages each), %d acks published"
          % (st["batches"], st["received"] / max(1, st["batches"]), st["acks"]))
    summary(tmp / "raw.txt", a.top, a.lines)
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

"""browse-export (gateway/browse_export.py): the rate at which a PostgreSQL database's raw
records become the SQLite snapshot datasette serves, with a same-run baseline: the server's
own fastest read of the same rows (COPY ... TO STDOUT, discarded). Printed, not asserted.
BENCH_EXPORT_RECORDS=N changes the size (default 1,000,000: 1,000 meters x 1,000 records)."""
import os
import time

from gateway import browse_export
from gateway.store import Store
from pgcluster import Cluster

RECORDS = int(os.environ.get("BENCH_EXPORT_RECORDS", "1000000"))
METERS = 1000
T0 = 1_717_200_000 - 1_717_200_000 % 86400


def fill(url):
    """METERS meters and RECORDS records, written with COPY (the writer is not measured)."""
    store = Store(url)
    per = RECORDS // METERS
    with store.write() as cur:
        cur.executemany("INSERT INTO meters(id, mid, created) VALUES (?, ?, ?)",
                        [("b-%04d" % k, 10 + k, T0) for k in range(METERS)])
    store.database.prepare_records([T0, T0 + 60 * per])
    store.close()
    import psycopg
    with psycopg.connect(url) as conn, conn.cursor().copy(
            "COPY raw(mid, seq, t, wh, avg_dw, v_dv, i_ma, pf_m, hz_c, credit, flags)"
            " FROM STDIN") as copy:
        for k in range(METERS):
            for s in range(1, per + 1):
                copy.write_row((10 + k, s, T0 + 60 * s, 10 * s, 6000, 2300, 2000, 990, 5000,
                                90000 - s, 0))
    return per * METERS


def test_browse_export_rate(tmp_path):
    cluster = Cluster().start()
    try:
        url = cluster.create("bench_export")
        t = time.perf_counter()
        n = fill(url)
        print("\n%d records of %d meters loaded in %.1f s" % (n, METERS, time.perf_counter() - t))
        import psycopg
        t = time.perf_counter()
        with psycopg.connect(url) as conn, conn.cursor().copy(
                "COPY (SELECT * FROM raw) TO STDOUT") as copy:
            for _ in copy:
                pass
        base = time.perf_counter() - t
        print("  baseline: COPY raw TO STDOUT, discarded %8.2f s  (%.0f records/s)"
              % (base, n / base))
        t = time.perf_counter()
        counts = browse_export.export(url, tmp_path / "snap.db")
        took = time.perf_counter() - t
        assert counts["raw"] == n
        print("  browse-export to SQLite               %8.2f s  (%.0f records/s, x%.2f baseline"
              " time; %.0f MB)" % (took, n / took, took / base,
                                   os.path.getsize(tmp_path / "snap.db") / 1e6))
    finally:
        cluster.remove()

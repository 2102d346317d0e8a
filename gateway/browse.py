"""Browse the gateway database with datasette, read-only, with metadata and canned queries.

    python -m gateway.browse build/gateway.db [--port 8001] [--host 127.0.0.1]
    python -m gateway.browse postgresql://gateway@db/gw [--snapshot FILE] [--port 8001]

Datasette reads through `mode=ro` connections and offers no write views; token keys are not
in this file at all (they live in <db>-secrets), and the in-tree plugin
datasette_plugins/hide_secrets.py reads vended token codes as NULL on every path, arbitrary
SQL included. Works while the gateway is writing (WAL).

On PostgreSQL, which datasette cannot read, it first writes a SQLite snapshot of the
database (gateway/browse_export.py: the same schema, no secret) and serves that; start it
again for fresh data.
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path
from urllib.parse import urlsplit

from gateway.storage.database import is_url, target_arg

META = Path(__file__).with_name("datasette_metadata.json")
PLUGINS = Path(__file__).with_name("datasette_plugins")   # hide_secrets.py


def metadata_for(db_path, utc_offset_min=0):
    """The metadata document, keyed by the database name datasette derives from the file;
    fleet-wide days are local days of the gateway's utc_offset_min, as its bills' are."""
    meta = json.loads(META.read_text())
    db = meta["databases"]["gateway"]
    h, m = divmod(abs(utc_offset_min), 60)
    zone = "UTC%s%02d:%02d" % ("-" if utc_offset_min < 0 else "+", h, m)
    daily = db["queries"]["daily_totals"]
    daily["sql"] = daily["sql"].replace("{offset_s}", str(int(utc_offset_min) * 60))
    daily["description"] = daily["description"].replace("{zone}", zone)
    meta["databases"] = {Path(db_path).stem: db}
    return meta


def command(db_path, port=8001, host="127.0.0.1", meta_path=None, utc_offset_min=0):
    """argv of the datasette server (tests start it with this)."""
    if meta_path is None:   # one file per database name, rewritten on each start
        meta_path = Path(tempfile.gettempdir()) / ("gateway-datasette-%s.json" % Path(db_path).stem)
        meta_path.write_text(json.dumps(metadata_for(db_path, utc_offset_min)))
    return [sys.executable, "-m", "datasette", "serve", str(db_path), "--metadata", str(meta_path),
            "--plugins-dir", str(PLUGINS),
            "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
            "--setting", "default_page_size", "100", "--setting", "allow_download", "off",
            "--setting", "max_returned_rows", "5000"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m gateway.browse", description=__doc__.split("\n")[0])
    ap.add_argument("db", type=target_arg,
                    help="the gateway database file, or its PostgreSQL URL")
    ap.add_argument("--snapshot", help="on PostgreSQL: the SQLite snapshot to write and serve"
                    " (default: <database name>.db in the temporary directory)")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--utc-offset-min", type=int, default=0,
                    help="the gateway's --utc-offset-min: daily totals by local day")
    a = ap.parse_args(argv)
    path = a.db
    if is_url(a.db):
        from gateway import browse_export   # psycopg and datasette's plugin: only for a URL
        path = a.snapshot or str(Path(tempfile.gettempdir()) / (
            urlsplit(a.db).path.strip("/") or "gateway") + ".db")
        if browse_export.main(["--db", a.db, "--out", path]):
            sys.exit(1)
    elif a.snapshot:
        ap.error("--snapshot is for a PostgreSQL URL: a SQLite file is served as it is")
    elif not Path(a.db).exists():
        ap.error("no database at %s (start the gateway with --db %s first)" % (a.db, a.db))
    argv = command(path, a.port, a.host, utc_offset_min=a.utc_offset_min)
    print("datasette on http://%s:%d/  (Ctrl-C to stop)" % (a.host, a.port), flush=True)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()

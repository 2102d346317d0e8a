"""Browse the gateway database with datasette, read-only, with metadata and canned queries.

    python -m gateway.browse build/gateway.db [--port 8001] [--host 127.0.0.1]

Datasette reads through `mode=ro` connections and offers no write views; token keys are not
in this file at all (they live in <db>-secrets). Works while the gateway is writing (WAL).
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

META = Path(__file__).with_name("datasette_metadata.json")


def metadata_for(db_path):
    """The metadata document, keyed by the database name datasette derives from the file."""
    meta = json.loads(META.read_text())
    meta["databases"] = {Path(db_path).stem: meta["databases"]["gateway"]}
    return meta


def command(db_path, port=8001, host="127.0.0.1", meta_path=None):
    """argv of the datasette server (tests start it with this)."""
    if meta_path is None:   # one file per database name, rewritten on each start
        meta_path = Path(tempfile.gettempdir()) / ("gateway-datasette-%s.json" % Path(db_path).stem)
        meta_path.write_text(json.dumps(metadata_for(db_path)))
    return [sys.executable, "-m", "datasette", "serve", str(db_path), "--metadata", str(meta_path),
            "--host", host, "--port", str(port), "--setting", "sql_time_limit_ms", "5000",
            "--setting", "default_page_size", "100", "--setting", "allow_download", "off",
            "--setting", "max_returned_rows", "5000"]


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m gateway.browse", description=__doc__.split("\n")[0])
    ap.add_argument("db", help="the gateway database file")
    ap.add_argument("--port", type=int, default=8001)
    ap.add_argument("--host", default="127.0.0.1")
    a = ap.parse_args(argv)
    if not Path(a.db).exists():
        ap.error("no database at %s (start the gateway with --db %s first)" % (a.db, a.db))
    argv = command(a.db, a.port, a.host)
    print("datasette on http://%s:%d/  (Ctrl-C to stop)" % (a.host, a.port), flush=True)
    os.execv(argv[0], argv)


if __name__ == "__main__":
    main()

"""Fetch the operator console's chart library, uPlot, by name from the npm registry.

    python -m host_tools.consoleassets build/console

`npm pack` downloads the published package from whatever registry npm is configured with
(no host is named here); its sha512 is checked against the pinned integrity before the two
files the console serves are extracted. Never committed, never fetched at run time: the
gateway serves them from build/console (gateway/console, --console-assets)."""
import base64
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

UPLOT = ("uplot", "1.6.32", "sha512-KIMVnG68zvu5XXUbC4LQEPnhwOxBuLyW1AHtpm6IKTXImkbLgkMy+"
         "jabjLgSLMasNuGGzQm/ep3tOkyTxpiQIw==")
FILES = ("uPlot.iife.min.js", "uPlot.min.css")


def fetch(dest):
    name, ver, integrity = UPLOT
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", "--silent", "--pack-destination", tmp, "%s@%s" % (name, ver)],
                       check=True, cwd=tmp, stdout=subprocess.DEVNULL)
        tgz = next(Path(tmp).glob("%s-%s.tgz" % (name, ver)))
        blob = tgz.read_bytes()
        got = "sha512-" + base64.b64encode(hashlib.sha512(blob).digest()).decode()
        if got != integrity:
            raise SystemExit("consoleassets: %s@%s integrity %s != pinned %s" % (name, ver, got, integrity))
        with tarfile.open(tgz) as t:
            for f in FILES:
                (dest / f).write_bytes(t.extractfile("package/dist/" + f).read())


def main(argv=None):
    dest = Path((argv or sys.argv[1:] or ["build/console"])[0])
    stamp = dest / ".fetched"
    if stamp.exists() and stamp.read_text() == str(UPLOT):
        return
    dest.mkdir(parents=True, exist_ok=True)
    fetch(dest)
    stamp.write_text(str(UPLOT))
    print("consoleassets: uPlot %s -> %s" % (UPLOT[1], dest))


if __name__ == "__main__":
    main()

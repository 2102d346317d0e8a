"""Build the meter page's assets: light minification, then gzip, ready to copy to flash.

    python -m host_tools.webassets build/web

Sources are plain text in device/web/assets/ (committed); the outputs are generated, never
committed. page.html stays uncompressed: it is the template the meter fills in with live
values as it streams the page. The stylesheet, scripts and admin page are gzipped once
here and the meter serves the .gz bytes as they are (Content-Encoding: gzip). The css/js
URLs carry a hash of their content, so browsers may cache them for a week.
"""
import argparse
import gzip
import hashlib
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "device" / "web" / "assets"
GZIPPED = ("s.css", "app.js", "admin.html", "admin.js")
TEMPLATE = "page.html"
PLAIN = (TEMPLATE, "words.txt")  # read by the meter itself, so stored uncompressed


def minify(name, text):
    if name.endswith(".css"):
        text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
        text = re.sub(r"\s+", " ", text)
        text = re.sub(r"\s*([{};:,>])\s*", r"\1", text).replace(";}", "}")
        return text.strip() + "\n"
    lines = []
    for ln in text.splitlines():
        ln = ln.strip()
        if not ln or (name.endswith(".js") and ln.startswith("//")) or (
                name.endswith(".txt") and ln.startswith("#")):
            continue
        lines.append(ln)
    # html: no line starts or ends inside a tag name, so joining lines inside a tag body
    # keeps one space; a newline between tags is harmless and keeps template lines short.
    return "\n".join(lines) + "\n"


def gz(data):
    return gzip.compress(data, compresslevel=9, mtime=0)


def build(out):
    """Write the page template and gzipped assets to `out`; return {name: bytes written}."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    texts = {n: minify(n, (SRC / n).read_text()) for n in GZIPPED + PLAIN}
    h = hashlib.sha256("".join(texts[n] for n in GZIPPED).encode()).hexdigest()[:8]
    sizes = {}
    for n, t in texts.items():
        data = t.replace("@HASH@", h).encode()
        if n in PLAIN:
            (out / n).write_bytes(data)
            sizes[n] = len(data)
        else:
            z = gz(data)
            (out / (n + ".gz")).write_bytes(z)
            sizes[n + ".gz"] = len(z)
    return sizes


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("out", nargs="?", default="build/web")
    a = ap.parse_args(argv)
    sizes = build(a.out)
    for n, s in sorted(sizes.items()):
        print(f"web: {n:16s} {s:6d} bytes")
    print(f"web: page css+js gzipped {sizes['s.css.gz'] + sizes['app.js.gz']} bytes "
          f"(+ the streamed HTML, measured by tests/e2e/test_web_page.py)")
    return 0


if __name__ == "__main__":
    sys.exit(main())

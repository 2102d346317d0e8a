"""Build the meter page's assets: light minification, then gzip, ready to copy to flash.

    python -m host_tools.webassets build/web

Sources are plain text in device/web/assets/ (committed); the outputs are generated, never
committed. page.html (made into page.<code>.html per language, below) stays uncompressed:
it is the template the meter fills in with live values as it streams the page. The stylesheet, scripts and admin page are gzipped once
here and the meter serves the .gz bytes as they are (Content-Encoding: gzip). The css/js
URLs carry a hash of their content, so browsers may cache them for a week.

Languages: assets/lang/<code>.txt is one message catalogue per language ("key text" lines).
The template's {@p.key} slots are filled here, once per language, into page.<code>.html, so
the page's fixed words never reach the meter's heap; the other keys (the phrases the meter
writes itself: token results, relay reasons, event texts) go to words.<code>.txt, which the
meter reads per request for one language only. {@langs} becomes the language picker. A
catalogue that lacks a key of the English one, has an extra one, or changes a %d / %s, stops
the build (CatalogueError).
"""
import argparse
import gzip
import hashlib
import re
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "device" / "web" / "assets"
GZIPPED = ("s.css", "app.js", "admin.js")
TEMPLATE = "page.html"
ADMIN = "admin.html"    # gzipped once per language: admin.<code>.html.gz
BASE = "en"     # the reference catalogue, and the page's language when nothing else fits


class CatalogueError(ValueError):
    pass


def catalogue(code):
    """{key: text} of assets/lang/<code>.txt, in file order. English's cfg.<code> phrases
    (what can be wrong with a config or its tariff) are prepay/problems.py's, their one home;
    the other catalogues translate them."""
    out = {}
    if code == BASE:
        out.update(("cfg." + k, v) for k, v in problem_texts().items())
    for ln in (SRC / "lang" / (code + ".txt")).read_text(encoding="utf-8").splitlines():
        if ln and not ln.startswith("#"):
            k, _, v = ln.partition(" ")
            if k in out:
                raise CatalogueError(f"{code}.txt: {k} twice")
            out[k] = v
    return out


def problem_texts():
    """{code: English} of every problem the meter's page may have to say: a config's and a
    tariff's (prepay/problems.py CONFIG and TARIFF), which share the cfg.* keys."""
    from prepay.problems import CONFIG, TARIFF
    both = set(CONFIG) & set(TARIFF)
    if both:
        raise CatalogueError("prepay/problems.py: %s both a config and a tariff code"
                             % ", ".join(sorted(both)))
    return dict(CONFIG, **TARIFF)


def languages():
    """Codes of the shipped catalogues, English first."""
    codes = sorted(p.stem for p in (SRC / "lang").glob("*.txt"))
    return [BASE] + [c for c in codes if c != BASE]


def check(code, words, base):
    """Every key of the English catalogue, no other, with the same % placeholders."""
    errors = [f"{code}.txt: missing {k}" for k in base if k not in words]
    errors += [f"{code}.txt: unknown key {k}" for k in words if k not in base]
    errors += [f"{code}.txt: {k} must have the placeholders {re.findall('%[ds]', base[k])}"
               for k in words if k in base
               and re.findall("%[ds]", words[k]) != re.findall("%[ds]", base[k])]
    if errors:
        raise CatalogueError("; ".join(errors))


def esc(s):
    return (s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace('"', "&quot;"))


def localize(template, words, picker):
    """The template with its {@p.key} slots filled (HTML-escaped) and the picker in {@langs}."""
    def fill(mo):
        k = mo.group(1)
        return picker if k == "langs" else esc(words[k])
    return re.sub(r"\{@([a-z.]+)\}", fill, template)


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
    texts = {n: minify(n, (SRC / n).read_text()) for n in GZIPPED + (TEMPLATE, ADMIN)}
    h = hashlib.sha256("".join(texts[n] for n in GZIPPED + (ADMIN,)).encode()).hexdigest()[:8]
    sizes = {}
    for n in GZIPPED:
        z = gz(texts[n].replace("@HASH@", h).encode())
        (out / (n + ".gz")).write_bytes(z)
        sizes[n + ".gz"] = len(z)
    # page.<code>.html and words.<code>.txt: read by the meter itself, so stored uncompressed
    codes = languages()
    cats = {c: catalogue(c) for c in codes}
    for c in codes:
        check(c, cats[c], cats[BASE])
    picker = " ".join(f'<a href="/?lang={c}" lang="{c}" hreflang="{c}">{esc(cats[c]["p.lang"])}</a>'
                      for c in codes)
    template = texts[TEMPLATE].replace("@HASH@", h)
    admin = texts[ADMIN].replace("@HASH@", h)
    for c in codes:
        page = localize(template, cats[c], picker).replace('<html lang="en">',
                                                          f'<html lang="{c}">')
        z = gz(localize(admin, cats[c], picker).replace('<html lang="en">',
                                                        f'<html lang="{c}">').encode())
        (out / f"admin.{c}.html.gz").write_bytes(z)
        sizes[f"admin.{c}.html.gz"] = len(z)
        # the build-time words (p.* of the page, a.* of the admin page) stay off the meter
        words = "".join(f"{k} {v}\n" for k, v in cats[c].items()
                        if not k.startswith(("p.", "a.")))
        for name, data in ((f"page.{c}.html", page), (f"words.{c}.txt", words)):
            (out / name).write_bytes(data.encode())
            sizes[name] = len(data.encode())
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

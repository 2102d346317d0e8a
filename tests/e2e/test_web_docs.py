"""Docs coverage for the web API (datasette-style): every route name the meter dispatches
is documented in docs/web.md, and every phrase key the code asks for exists on flash."""
import re
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
WEB = REPO / "device" / "web"
DOC = (REPO / "docs" / "web.md").read_text()


def _table(src, name):
    body = re.search(r"^%s = \{(.*?)\}$" % name, src, re.S | re.M).group(1)
    return re.findall(r'"([a-z.]+)":', body)


APP = (WEB / "app.py").read_text()
API = ["/api/" + n for n in _table(APP, "_GET") + _table(APP, "_POST") + ["status", "history.svg", "chart"]]
_ADM = (WEB / "admin.py").read_text()
ADMIN = ["/api/admin/" + n for n in re.findall(r'name == "([a-z]+)"', _ADM)
         + re.findall(r'"([a-z]+)": (?:save|relay|restart)\b', _ADM)]


@pytest.mark.parametrize("path", sorted(set(API + ADMIN)))
def test_api_documented(path):
    assert "`GET %s" % path in DOC or "`POST %s" % path in DOC, f"{path} missing from docs/web.md"


def test_phrases_exist():
    from host_tools.webassets import catalogue
    keys = set(catalogue("en"))   # every other language has exactly these (test_webassets)
    used = set(re.findall(r"\{@(p\.[a-z]+)\}", (WEB / "assets" / "page.html").read_text()))
    for f in WEB.glob("*.py"):
        used.update(re.findall(r'"((?:tok|al|em|st|act|days|price|via|topups|chart|err|stat|pq|p)'
                               r'\.[a-z_]+)"', f.read_text()))
    used.update("why." + r for r in ("ok", "no_credit", "power_limit", "gave_up", "friendly",
                                     "confirm", "manual", "config"))
    assert used <= keys, used - keys

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
API = ["/api/" + n for n in _table(APP, "_GET") + _table(APP, "_POST") + ["status", "history.svg"]]
_ADM = (WEB / "admin.py").read_text()
ADMIN = ["/api/admin/" + n for n in re.findall(r'name == "([a-z]+)"', _ADM)
         + re.findall(r'"([a-z]+)": (?:save|relay|restart)\b', _ADM)]


@pytest.mark.parametrize("path", sorted(set(API + ADMIN)))
def test_api_documented(path):
    assert "`GET %s" % path in DOC or "`POST %s" % path in DOC, f"{path} missing from docs/web.md"


def test_phrases_exist():
    keys = {ln.split(" ", 1)[0] for ln in (WEB / "assets" / "words.txt").read_text().splitlines()
            if ln and not ln.startswith("#")}
    used = set()
    for f in WEB.glob("*.py"):
        used.update(re.findall(r'"((?:tok|al|em|st)\.[a-z_]+)"', f.read_text()))
    used.update("why." + r for r in ("ok", "no_credit", "power_limit", "gave_up", "friendly",
                                     "confirm", "manual", "config"))
    assert used <= keys, used - keys

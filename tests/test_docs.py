"""Docs coverage: every meter setting is documented (datasette-style docs tests), and the
settings table in docs/config.md says what prepay/settings.py's table holds."""
import json
import re
from pathlib import Path

import pytest

from prepay.settings import SETTINGS

REPO = Path(__file__).resolve().parent.parent


def _settings():
    return SETTINGS


@pytest.mark.parametrize("key", [row[0] for row in _settings()])
def test_setting_documented(key):
    doc = (REPO / "docs" / "config.md").read_text()
    assert re.search(r"`%s`" % re.escape(key), doc), f"{key} missing from docs/config.md"


def test_no_duplicate_settings():
    keys = [row[0] for row in _settings()]
    assert len(keys) == len(set(keys))


def _limits(row):
    key, default, lo, hi = row[:4]
    if lo is None:
        return ""
    if isinstance(default, str):
        return "`%s..%s chars`" % (lo, hi)
    return "`>= %s`" % lo if hi is None else "`%s..%s`" % (lo, hi)


_TYPES = {int: "int", float: "float", str: "str", bool: "bool", dict: "object", list: "list"}


def _edit(access):
    if "c" in access:
        return "consumer"
    if "p" in access:
        return "consumer (PIN form)"
    return "installer (consumer sees it)" if "v" in access else "installer"


def _columns(row):
    """Setting, Type, Default, Limits, Edit, Secret, MQTT as docs/config.md shows them."""
    key, default, lo, hi, access = row
    return ["`%s`" % key, _TYPES[type(default)], "`%s`" % json.dumps(default), _limits(row),
            _edit(access), "yes" if "s" in access else "no", "yes" if "m" in access else "no"]


@pytest.mark.parametrize("row", _settings(), ids=lambda r: r[0])
def test_setting_row_documented(row):
    """docs/config.md's table says what prepay/settings.py's table holds: type, default, limits,
    who may edit the setting, whether it is secret and whether MQTT may change it."""
    doc = (REPO / "docs" / "config.md").read_text()
    line = [ln for ln in doc.splitlines() if ln.startswith("| `%s` |" % row[0])]
    assert line, row[0]
    assert [c.strip() for c in line[0].split("|")][1:8] == _columns(row), line[0]


def test_settings_table_is_complete():
    """No row in docs/config.md's table names a setting the table lacks."""
    doc = (REPO / "docs" / "config.md").read_text()
    keys = {row[0] for row in _settings()}
    listed = re.findall(r"^\| `([^`]+)` \|", doc, re.M)
    assert sorted(listed) == sorted(keys)


@pytest.mark.parametrize("row", _settings(), ids=lambda r: r[0])
def test_setting_access_letters(row):
    """The access column uses only the letters prepay/settings.py defines; a secret is never
    shown to the consumer, and what the consumer changes has one way to do it."""
    access = row[4]
    assert set(access) <= set("cpvsm"), row
    assert not ("s" in access and "v" in access), row
    assert not ("c" in access and "p" in access), row

"""Docs coverage: every meter setting is documented (datasette-style docs tests)."""
import re
import sys
import types
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def _settings():
    sys.modules.setdefault("micropython", types.SimpleNamespace(const=lambda x: x))
    sys.path.insert(0, str(REPO / "device"))
    try:
        import settings
    finally:
        sys.path.pop(0)
    return settings.SETTINGS


@pytest.mark.parametrize("key", [k for k, _ in _settings()])
def test_setting_documented(key):
    doc = (REPO / "docs" / "config.md").read_text()
    assert re.search(r"`%s`" % re.escape(key), doc), f"{key} missing from docs/config.md"


def test_no_duplicate_settings():
    keys = [k for k, _ in _settings()]
    assert len(keys) == len(set(keys))

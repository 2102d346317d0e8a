"""docs/protocol.md is the single contract: every topic, command, JSON field, record flag and
event kind defined in prepay/protocol.py (and every event kind the firmware emits) must be
documented there; a change to one without the other fails here."""
import re
from pathlib import Path

import pytest

from prepay import protocol as P
from prepay import record

REPO = Path(__file__).resolve().parent.parent
DOC = (REPO / "docs" / "protocol.md").read_text()
EMIT = re.compile(r"""\.emit\(\s*["']([A-Za-z0-9_]+)["']""")


def documented(name):
    return "`%s`" % name in DOC


@pytest.mark.parametrize("leaf", sorted(P.UP))
def test_meter_topics_documented(leaf):
    qos, retain = P.UP[leaf]
    row = [ln for ln in DOC.splitlines() if ln.startswith("| `pm/<meter>/%s`" % leaf)]
    assert row, "topic pm/<meter>/%s missing from the topic table" % leaf
    cells = [c.strip() for c in row[0].split("|")]
    assert cells[3] == str(qos) and cells[4] == ("yes" if retain else "no"), row[0]


@pytest.mark.parametrize("kind", sorted(P.DOWN))
def test_commands_documented(kind):
    qos, retain = P.DOWN[kind]
    row = [ln for ln in DOC.splitlines() if ln.startswith("| `pm/<meter>/cmd/%s`" % kind)]
    assert row, "command cmd/%s missing from the topic table" % kind
    cells = [c.strip() for c in row[0].split("|")]
    assert cells[3] == str(qos) and cells[4] == ("yes" if retain else "no"), row[0]
    assert "### `%s`" % kind in DOC


@pytest.mark.parametrize("kind", sorted(P._S))
def test_schema_fields_documented(kind):
    section = DOC.split("### `%s`" % kind, 1)
    assert len(section) == 2, "no section for %s" % kind
    body = section[1].split("\n### ", 1)[0]
    req, opt = P.schema(kind)
    for field in list(req) + list(opt or ()):
        assert "`%s`" % field in body, "%s.%s not documented in its section" % (kind, field)


def test_event_kinds_documented():
    for kind in P.EVENT_KINDS:
        assert re.search(r"^\| `%s` \|" % kind, DOC, re.M), "event kind %s not in the table" % kind


def test_every_emitted_event_kind_is_in_the_contract():
    emitted = {}
    for p in (REPO / "device").rglob("*.py"):
        for k in EMIT.findall(p.read_text()):
            emitted.setdefault(k, p.relative_to(REPO))
    assert emitted, "no .emit( calls found: the scan is broken"
    missing = {k: str(p) for k, p in emitted.items() if k not in P.EVENT_KINDS}
    assert not missing, "undocumented event kinds (add to prepay/protocol.py EVENT_KINDS and " \
                        "docs/protocol.md): %s" % missing


def test_record_flags_and_fields_documented():
    for name in dir(record):
        if name.startswith("F_"):
            assert documented(name), name
    for f in record.FIELDS:
        assert documented(f), f


def test_versions_and_header_documented():
    assert "`\"ver\": %d`" % P.VER in DOC or '"ver": %d' % P.VER in DOC
    assert "R_REPLAY" in DOC and str(P.REC_MAX) in DOC

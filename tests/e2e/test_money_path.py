"""Issue 11, the meter side of the money path, end to end: a meter running the real firmware
frozen into the unix port (host_tools/fleet.py, its heap fleet.HEAP), a real mosquitto with the
provisioned ACL, and a paho client with the gateway's credentials playing the gateway.

- (a) a burst of token commands larger than the meter's queue: every one is answered
  (applied, or `busy`), the busy ones re-sent are credited exactly once, and re-sending
  everything credits nothing more;
- (c) while codes typed on the page have locked token entry, the utility's tokens over MQTT
  are still accepted, and bad ones over MQTT do not count toward the consumer's lockout;
- (b) config commands that would put the meter into a config-error state are refused with
  their reason and config.json is unchanged; an invalid config.json planted on the flash
  boots on the last-known-good copy (config_fallback reaches the broker, the relay follows
  credit); with no good copy the meter still syncs and a config command repairs it."""
import json
import time
import urllib.request

import pytest

from broker import Broker, free_port
from gwclient import GwClient
from waits import wait_until
from host_tools.fleet import Fleet
from prepay import opaygo
from prepay import protocol as P

T0 = 1767225600


@pytest.fixture
def rig(tmp_path):
    port = free_port()
    made = {}

    def start(**kw):
        f = Fleet(tmp_path / "fleet", "127.0.0.1", port, n=1, epoch=T0, **kw)
        b = Broker(tmp_path / "mq", passwd=f.passwd, acl=f.acl, port=port).start()
        gw = GwClient(b.gw_port, *f.gateway)   # the gateway's own listener
        made.update(fleet=f, broker=b, gw=gw)
        f.start()
        assert wait_until(lambda: gw.info, 30), f[0].console()[-2000:]
        return f, gw

    yield start
    for k in ("gw", "fleet", "broker"):
        if k in made:
            made[k].close() if k == "gw" else made[k].stop()


def _page_token(meter, code):
    port = meter.web_port
    req = urllib.request.Request(
        "http://127.0.0.1:%d/api/token" % port, data=json.dumps({"code": code}).encode(),
        headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1:%d" % port})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def _live(meter):
    with urllib.request.urlopen("http://127.0.0.1:%d/api/live" % meter.web_port,
                                timeout=10) as r:
        return json.loads(r.read())


def test_token_flood_answered_credited_once_and_not_locked_out(rig):
    f, gw = rig(speed=1, web_port=free_port(), config={"mqtt": {"tele_s": 1}})
    m = f[0]
    rec = f.prov.meter("m-001")
    codec = opaygo.Codec(rec["key"], rec["starting_code"], False)
    # (c) the consumer types bad codes on the page: token entry locks
    for bad in ("111111111", "222222222", "333333333"):
        r = _page_token(m, bad)
    assert r["result"] == "invalid" and r["locked_s"] > 0
    # (a) 20 token commands in one burst: 9 valid (counts 2..18, inside the 16-count
    # window, so any order of acceptance is fine) between 11 invalid ones
    good = {"g%d" % v: codec.encode(v, 2 * v) for v in range(1, 10)}
    bad = {"b%02d" % i: "%09d" % (900000001 + i) for i in range(11)}
    order = [x for v in range(1, 10) for x in ("b%02d" % (v - 1), "g%d" % v)] + ["b09", "b10"]
    codes = dict(good, **bad)
    assert sorted(order) == sorted(codes)
    for cid in order:
        gw.send(P.TOKEN, id=cid, code=codes[cid])
    assert wait_until(lambda: all(gw.answers(c) for c in order), 30), \
        ("unanswered", [c for c in order if not gw.answers(c)], m.console()[-1500:])
    first = {c: gw.answers(c)[0] for c in order}
    busy = [c for c in order if first[c].get("error") == "busy"]
    assert busy, "the burst never filled the queue: the test proves nothing"
    assert {first[c].get("error") for c in order} <= {None, "busy", "invalid"}
    assert all(first[c]["ok"] for c in good if c not in busy)
    assert not any(first[c].get("error") == "locked" for c in order)
    # the gateway re-sends the busy ones, at most 4 in flight
    for _ in range(10):
        pending = [c for c in order if gw.answers(c)[-1].get("error") == "busy"]
        if not pending:
            break
        for c in pending[:4]:
            n = len(gw.answers(c))
            gw.send(P.TOKEN, id=c, code=codes[c])
            assert wait_until(lambda: len(gw.answers(c)) > n, 10)
    final = {c: gw.answers(c)[-1] for c in order}
    assert all(final[c]["ok"] for c in good), final
    assert all(final[c]["error"] == "invalid" for c in bad), final
    accepted = gw.events("token")
    assert sorted(e["count"] for e in accepted if e["result"] == "accepted") == \
        list(range(2, 19, 2))                                  # each credited exactly once
    mask = sum(1 << i for i in range(0, 17, 2))                # counts 18, 16 .. 2 used
    assert wait_until(lambda: gw.last_tele() and gw.last_tele()["tok"] == [18, mask], 10), \
        gw.last_tele()
    # every id again (a gateway that reconnected): nothing is credited twice
    for c in order:
        n = len(gw.answers(c))
        gw.send(P.TOKEN, id=c, code=codes[c])
        assert wait_until(lambda: len(gw.answers(c)) > n and
                    gw.answers(c)[-1].get("error") != "busy", 10) or \
            gw.answers(c)[-1].get("error") == "busy"
    again = {c: gw.answers(c)[-1] for c in order}
    for c in good:    # the cached answer, or decoded as used once it left the cache
        assert again[c] == final[c] or (again[c]["ok"] is False and again[c]["error"] in (
            "used", "busy")), again[c]
    time.sleep(1)
    assert len([e for e in gw.events("token") if e["result"] == "accepted"]) == 9
    assert gw.last_tele()["tok"] == [18, mask]
    assert gw.last_tele()["cmd_drops"] == 0
    snap = _live(m)["credit"]
    assert snap["credit"] <= sum(range(1, 10)) * 100
    # the consumer's lockout counts only what was typed on the page
    assert snap["token_rejected"] == 3 and snap["token_remote_rejected"] >= 11
    info = gw.info[-1]
    assert "tok" in info


BAD = [
    ({"credit": {"quantum_s": 0}}, "credit.quantum_s: must be 1..3600 (got 0)"),
    ({"credit": {"low_days": -5}}, "credit.low_days: must be 0..365 (got -5)"),
    ({"power": {"hold_s": 0}}, "power.hold_s: must be 1..86400 (got 0)"),
    ({"tariff": {"rates": {"a": "-1"}}, "credit": {"quantum_s": 0}},
     "tariff.rates.a: '-1' is not a decimal"),
]


def test_bad_config_refused_fallback_and_remote_repair(rig):
    f, gw = rig(speed=60, config={"mqtt": {"tele_s": 30},
                                                  "tariff": {"rates": {"std": 6}}})
    m = f[0]
    rec = f.prov.meter("m-001")
    codec = opaygo.Codec(rec["key"], rec["starting_code"], False)
    gw.send(P.TOKEN, id="t1", code=codec.encode(500, 2))      # 500.00 INR: supply on
    assert wait_until(lambda: gw.answers("t1"))[0]["ok"]
    assert wait_until(lambda: gw.last_tele() and gw.last_tele()["relay"], 20)
    cfg_path = m.root / "config.json"
    good_path = m.root / "config.good.json"
    before = cfg_path.read_bytes()
    assert good_path.read_bytes() == before                   # kept after a clean boot
    # (b) every change that boot would refuse is refused over MQTT, with its reason
    for i, (upd, why) in enumerate(BAD):
        gw.send(P.CONFIG, id="bad%d" % i, set=upd)
        r = wait_until(lambda: gw.answers("bad%d" % i))
        assert r and r[0]["ok"] is False and why in r[0]["error"], r
    assert cfg_path.read_bytes() == before and good_path.read_bytes() == before
    gw.send(P.CONFIG, id="ok1", set={"mqtt": {"tele_s": 20}})
    assert wait_until(lambda: gw.answers("ok1"))[0]["ok"]
    after = cfg_path.read_bytes()
    assert json.loads(after)["mqtt"]["tele_s"] == 20 and good_path.read_bytes() == after
    # an invalid config.json on the flash: the meter boots on the last known good one
    m.kill()
    bad_doc = json.loads(after)
    bad_doc["credit"] = {"quantum_s": 0}
    cfg_path.write_text(json.dumps(bad_doc))
    n_boot = len(gw.events("boot"))
    m.start()
    ev = wait_until(lambda: gw.events("config_fallback"), 30)
    assert ev and "credit.quantum_s" in ev[0]["errors"] and ev[0]["n"] == 1, m.console()[-2000:]
    assert wait_until(lambda: len(gw.events("boot")) > n_boot)
    gw.tele.clear()
    assert wait_until(lambda: gw.last_tele() and gw.last_tele()["relay"] and
                gw.last_tele()["errors"] == 0, 20), gw.last_tele()   # the supply continues
    assert gw.last_tele()["credit"] > 0
    # no good copy at all: a config-error state, but MQTT still runs
    m.kill()
    good_path.unlink()
    gw.tele.clear()
    m.start()
    ev = wait_until(lambda: gw.events("config_error"), 30)
    assert ev and "credit.quantum_s" in ev[0]["errors"], m.console()[-2000:]
    assert wait_until(lambda: gw.last_tele() and gw.last_tele()["errors"] == 1, 20)
    t = gw.last_tele()
    assert t["relay"] is False and "tok" not in t
    gw.send(P.TOKEN, id="t2", code=codec.encode(5, 4))
    assert wait_until(lambda: gw.answers("t2"))[0]["error"] == "config_error"
    gw.send(P.RELAY, id="r1", action="close")
    assert wait_until(lambda: gw.answers("r1"))[0]["error"] == "config_error"
    # the utility repairs it remotely and restarts it
    gw.send(P.CONFIG, id="fix", set={"credit": {"quantum_s": 60}}, restart=True)
    r = wait_until(lambda: gw.answers("fix"))
    assert r and r[0]["ok"] is True, r
    assert wait_until(lambda: not m.running, 10)
    assert json.loads(cfg_path.read_text())["credit"]["quantum_s"] == 60
    gw.tele.clear()
    m.start()
    assert wait_until(lambda: gw.last_tele() and gw.last_tele()["errors"] == 0 and
                gw.last_tele()["relay"], 30), (gw.last_tele(), m.console()[-2000:])
    assert gw.last_tele()["credit"] > 0 and gw.last_tele()["tok"][0] == 2
    assert good_path.read_bytes() == cfg_path.read_bytes()


@pytest.mark.parametrize("change,why", [
    ({"power.retry_s": 2}, "power.retry_s: must be 5..86400 (got 2)"),   # MQTT took it before
    ({"power.hold_s": 0}, "power.hold_s: must be 1..86400 (got 0)"),
    ({"mqtt.prefix": "a/b"}, "mqtt.prefix: 1-16 characters without / # +"),
    ({"measure.max_power_w": 50}, "measure.max_power_w: must be 100..1000000 (got 50)"),
])
def test_admin_page_refuses_with_the_same_check(tmp_path, change, why):
    """The admin page had its own limits; it now saves through the same apply (config.change)."""
    import webmeter
    m = webmeter.Meter(webmeter.build_firmware(), tmp_path / "flash",
                       webmeter.config(webmeter.free_port()))
    try:
        st, r = m.json("POST", "/api/admin/login", {"pin": webmeter.PIN})
        auth = {"Authorization": "Bearer " + r["session"]}
        cfg = m.root / "config.json"
        before = cfg.read_bytes()
        assert (m.root / "config.good.json").read_bytes() == before
        st, r = m.json("POST", "/api/admin/settings", {"settings": change}, headers=auth)
        assert st == 400 and r["errors"] == [why], r
        assert cfg.read_bytes() == before == (m.root / "config.good.json").read_bytes()
        st, r = m.json("POST", "/api/admin/settings", {"settings": {"power.retry_s": 30}},
                       headers=auth)
        assert st == 200, r
        assert json.loads(cfg.read_text())["power"]["retry_s"] == 30
        assert (m.root / "config.good.json").read_bytes() == cfg.read_bytes()
    finally:
        m.stop()

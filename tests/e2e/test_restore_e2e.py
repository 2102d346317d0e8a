"""A gateway database restored from a backup, on real parts: `python -m gateway`, a real
mosquitto and a meter running the real firmware (tests/e2e/test_delivery_e2e.py's Setup).

The backup is taken before a top-up and a config command. Restored, the database numbers
its rows and its token counter from where the backup stood, while the meter still holds
the answers to its last 16 command ids and has used the earlier token counts. Before the
fix the next top-up went out as `tx-1` again and the meter answered it from its cache
(accepted, nothing credited), and the next config command as the old `config-<n>`, never
applied. Now each command id carries a random part and the meter's `tok` (tele, info)
raises the vending counter above the counts it used: both are applied."""
import json

from fixtures import backup, restore
from test_delivery_e2e import OPEN, Setup
from waits import wait_until


def settle(s, meter_id, n_txs, cid):
    """Wait until the meter has answered the top-ups and the config command `cid`."""
    return wait_until(lambda: s.settled(meter_id, n_txs) and next(
        c for c in s.commands(meter_id) if c["cid"] == cid)["status"] not in OPEN, 60, 0.2)


def tele_s(s, i):
    return json.loads((s.fleet[i].root / "config.json").read_text())["mqtt"]["tele_s"]


def test_a_restored_database_credits_the_next_top_up_and_applies_the_next_config(tmp_path):
    s = Setup(tmp_path, 1, "--command-resend-s", "3")
    try:
        s.start(0)
        m = s.fleet[0].id
        backup(s.db, tmp_path / "backup.db")
        st, tx1 = s.topup(m, 500)
        st, cmd1 = s.config(m, {"mqtt": {"tele_s": 31}})
        assert st == 202 and settle(s, m, 1, cmd1["cid"]), s.consoles()
        assert s.txs(m)[0]["status"] == "accepted"
        assert wait_until(lambda: s.credit(m) == 500, 30), s.credit(m)
        assert tele_s(s, 0) == 31

        s.gw.stop()
        restore(tmp_path / "backup.db", s.db)
        s.gw.start()
        # the meter's next tele reports its token memory: the count of the first top-up used
        assert wait_until(lambda: (s.tele(m) or {}).get("tok", [0])[0] == tx1["token_count"],
                          30), s.tele(m)
        st, tx2 = s.topup(m, 700)
        assert st == 201 and tx2["token_count"] > tx1["token_count"]
        st, cmd2 = s.config(m, {"mqtt": {"tele_s": 29}})
        assert st == 202 and settle(s, m, 1, cmd2["cid"]), s.consoles()
        assert s.txs(m)[0]["status"] == "accepted"
        assert wait_until(lambda: s.credit(m) == 1200, 30), s.credit(m)   # both credited
        assert [c["status"] for c in s.commands(m)] == ["accepted", "accepted"]
        assert tele_s(s, 0) == 29                    # the second config was applied
        assert tx2["id"] == tx1["id"]                # the restored database numbered it again
        assert tx2["command_id"] != tx1["command_id"] and cmd2["cid"] != cmd1["cid"]
    finally:
        s.stop()

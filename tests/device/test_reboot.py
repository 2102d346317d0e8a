"""One restart path (issue 13 item 2): the admin page's restart used to skip the journal
flush that a config command's restart did. Both now go through device/reboot.py."""
import upy


def test_every_restart_saves_credit_then_flushes_the_journal():
    got = upy.run_json("reboot_check.py", heap="1m")[0]   # from source: the compiler needs room
    assert got["admin"] == got["mqtt"] == ["credit.save", "journal.flush", "board.reset"]
    assert got["config_error"] == ["journal.flush", "board.reset"]

# The one way the firmware restarts itself (the admin page's restart, a config command with
# restart: true): the credit state and the journal's ack pointer go to flash first, so a
# restart neither loses credit nor makes the gateway re-send what it already acknowledged.


def reboot(m):
    """m: anything holding the meter's board, credit (None in the config-error state) and
    journal: the Meter (admin page) or the commands' Remote (device/remote.py)."""
    if m.credit:
        m.credit.save()
    if m.journal:
        m.journal.flush()
    m.board.reset()

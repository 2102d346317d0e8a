# What the gateway's commands act on (device/sync/commands.py applies them through this):
# the credit stage (tokens, relay requests), the clock (the gateway's time as a fallback)
# and the events; and the restart a config command may ask for, with the state saved first.
class Remote:
    def __init__(self, board, credit, clock, events, journal):
        self.board = board
        self.credit = credit    # None in the config-error state: tokens and relay refused
        self.clock = clock
        self.events = events
        self.journal = journal

    def restart(self):
        """Save the credit state and the journal's ack pointer, then reset the board: the one
        restart path (device/reboot.py), which the admin page's restart takes too."""
        from reboot import reboot
        reboot(self)

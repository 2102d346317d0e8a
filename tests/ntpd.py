"""A small SNTP responder on loopback for tests: answers each 48-byte query with the time
`clock()` gives (UTC epoch seconds), or stays silent (`silent=True`: an unreachable server
as the meter sees it, its query times out)."""
import struct

from udpd import Udpd

NTP_DELTA = 2208988800      # 1900 -> 1970


class Ntpd(Udpd):
    def __init__(self, clock, silent=False):
        super().__init__()
        self.clock = clock
        self.silent = silent
        self.queries = 0

    def answer(self, data):
        self.queries += 1
        if self.silent or len(data) < 48:
            return None
        t = int(self.clock()) + NTP_DELTA
        reply = bytearray(48)
        reply[0] = 0x24                     # LI 0, version 4, mode 4 (server)
        reply[1] = 2                        # stratum
        struct.pack_into("!II", reply, 32, t, 0)    # receive timestamp
        struct.pack_into("!II", reply, 40, t, 0)    # transmit timestamp
        return bytes(reply)

# unix_sim ADC over a link: the simulated front-end (adc_sim's synthesis) runs in its own
# process (host_tools.adc_feed) behind the pty <root>/adc.tty, so the meter's heap holds
# what an ESP32's would: the driver's buffers and this small object, not the simulator.
# One window: write struct "<BIHB" (sequence, meter UTC seconds, n samples, relay closed);
# the feeder answers with those 8 bytes, then n V counts and n I counts as little-endian
# u16 (the unix port's array('H')), read straight into the caller's buffers: nothing is
# allocated per window. A missing, dead or slow feeder, or an answer to an earlier request,
# gives rate 0, which the driver counts as no signal; each read waits at most timeout_ms
# (real time), so the meter never hangs on the link.
import struct
from pty_uart import PtyUart


class AdcLink(PtyUart):
    def __init__(self, board, path, rate, bits, timeout_ms=500):
        super().__init__(path, timeout_ms)
        self.board = board
        self.rate = rate
        self.bits = bits
        self._req = bytearray(8)
        self._ans = bytearray(8)

    def sample(self, vbuf, ibuf):
        req, ans, b = self._req, self._ans, self.board
        while self.any():   # the rest of an answer that came too late: drop it
            self.readfull(vbuf)
        struct.pack_into("<BIHB", req, 0, (req[0] + 1) & 255, b.time(), len(vbuf),
                         b.relay_closed())
        n = 2 * len(vbuf)
        if (self.write(req) != 8 or self.readfull(ans) != 8 or ans != req
                or self.readfull(vbuf) != n or self.readfull(ibuf) != n):
            return 0
        return self.rate

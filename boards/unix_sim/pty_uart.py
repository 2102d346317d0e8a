# unix_sim UART: a pty to host_tools.pzem_sim with the part of machine.UART the PZEM driver
# uses: write(buf), any(), readinto(buf[, n]); plus readfull(buf) for the bulk
# reads of the ADC link (adc_link.py).
#
# Facts of the unix port this relies on: FileIO.readinto() loops on read() until the
# buffer is full or a read() returns nothing. The tty is set to VMIN 0, VTIME 1, so a
# read() returns what has arrived, or nothing after 0.1 s without a byte: readinto() then
# never blocks for long. readinto() here reads one byte at a time, each only after poll
# says readable, to keep the UART's per-byte timeouts. poll.ipoll() does not allocate
# (poll() builds a list per call).
# The pty may not exist yet (simulator not started) or may go away (simulator restarted:
# its new pty replaces the link). Then writes fail, reads find nothing (the driver sees a
# timeout), and the path is opened again on the next write. Nothing here raises.
# Caveat: open() cannot pass O_NOCTTY, so do not run the firmware as a session leader
# without a controlling tty, or the pty becomes its terminal (and a hangup its SIGHUP).
import select
import time
from micropython import const

_HUP = const(0x18)  # POLLERR | POLLHUP
_VTIME = const(5)   # indices into termios' cc list (Linux)
_VMIN = const(6)


class PtyUart:
    def __init__(self, path, timeout_ms=200):
        self.path = path
        self.timeout_ms = timeout_ms   # read(n)/readinto() wait at most this long (real time)
        self.opens = 0                 # successful (re)opens, for diagnostics
        self._f = None
        self._poll = select.poll()
        self._b1 = bytearray(1)
        self._open()

    def _open(self):
        self._close()
        try:
            f = open(self.path, "r+b")
        except OSError:
            return False
        try:
            import termios
            fd = f.fileno()
            termios.setraw(fd)  # the simulator sets raw mode too; be sure of it
            a = termios.tcgetattr(fd)
            a[6][_VMIN], a[6][_VTIME] = 0, 1   # see the top of this file
            termios.tcsetattr(fd, termios.TCSANOW, a)
        except (ImportError, OSError):  # not a tty
            pass
        self._f = f
        self._poll.register(f, select.POLLIN)
        self.opens += 1
        return True

    def _close(self):
        f, self._f = self._f, None
        if f is not None:
            try:
                self._poll.unregister(f)
            except Exception:  # noqa: already gone
                pass
            try:
                f.close()
            except OSError:
                pass

    def _readable(self, wait_ms):
        if self._f is None:
            return False
        for _, ev in self._poll.ipoll(wait_ms):
            if ev & _HUP:      # simulator gone: reopen on the next write
                self._close()
                return False
            return True
        return False

    def write(self, buf):
        """Write all of buf; return its length, or None if no simulator is listening."""
        for _ in range(2):
            if self._f is None and not self._open():
                return None
            try:
                return self._f.write(buf)
            except OSError:    # EIO: the pty's master side is closed; try the link again
                self._close()
        return None

    def any(self):
        """1 if at least one byte can be read now, else 0 (machine.UART allows 1 for 'some')."""
        return 1 if self._readable(0) else 0

    def readinto(self, buf, n=None):
        """Read up to n (default len(buf)) bytes, waiting at most timeout_ms for each;
        return the count, or None if nothing arrived (machine.UART semantics)."""
        n = len(buf) if n is None else min(n, len(buf))
        got = 0
        t0 = time.ticks_ms()
        b1 = self._b1
        while got < n:
            left = self.timeout_ms - time.ticks_diff(time.ticks_ms(), t0)
            if left < 0 or not self._readable(left if got == 0 else min(left, 5)):
                break
            try:
                if self._f.readinto(b1) != 1:
                    self._close()
                    break
            except OSError:
                self._close()
                break
            buf[got] = b1[0]
            got += 1
        return got or None

    def readfull(self, buf):
        """Fill buf in bulk, straight from the tty (no per-byte loop, no allocation): wait
        at most timeout_ms for the first bytes, then stop at a 0.1 s gap. Returns the
        count of bytes read (0 if none)."""
        if not self._readable(self.timeout_ms):
            return 0
        try:
            return self._f.readinto(buf) or 0
        except OSError:
            self._close()
            return 0

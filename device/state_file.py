# Power-loss-safe state file: two alternating slots (<path>.a, .b), each "seq crc32 json".
# save() writes the older slot, so a torn write leaves the other (last good) slot intact;
# load() takes the valid slot with the highest seq. Each save is one flash write, counted in
# .writes.
# With `blob` (a preallocated buffer of `size` bytes, e.g. an array) a slot is
# "seq crc32\njson\n" and then the buffer's bytes, written from it and read back into it in place, the CRC over both: a
# week of hourly Wh (credit/days.py) needs no copy of 0.7 KB, nor a 0.9 KB text of it, on a
# heap that has no such block to spare.
import json
from binascii import crc32


class StateFile:
    def __init__(self, path, blob=None, size=0):
        self._paths = (path + ".a", path + ".b")
        self.blob = blob
        self._size = size   # the blob's bytes
        self.seq = 0
        self.writes = 0
        self.corrupt = 0  # slots found torn or corrupt at load

    def _read(self, p):
        try:
            f = open(p, "rb")
        except OSError:
            return None
        try:
            with f:
                head = f.readline()
                blob = self.blob
                if blob is None:
                    body = f.read()
                    crc = crc32(body)
                else:
                    body = f.readline()
                    if f.readinto(blob) != self._size or f.read(1):
                        raise ValueError
                    crc = crc32(blob, crc32(body))
            seq, want = head.strip().split(b" ")
            if int(want) != crc & 0xFFFFFFFF:
                raise ValueError
            return int(seq), json.loads(body)
        except (ValueError, TypeError):
            self.corrupt += 1
            return None

    def load(self):
        """The newest intact state dict, or None when there is none. With a blob, the blob
        holds that slot's bytes (its contents are undefined after None)."""
        best = None
        for p in self._paths:
            got = self._read(p)
            if got and (best is None or got[0] > best[0]):
                best = got + (p,)
        if best is None:
            return None
        if self.blob is not None and best[2] != p:
            self._read(best[2])     # the other slot was read into the blob last
        self.seq = best[0]
        return best[1]

    def save(self, state):
        self.seq += 1
        body = json.dumps(state).encode()
        blob = self.blob
        if blob is None:
            crc = crc32(body)
        else:
            body += b"\n"
            crc = crc32(blob, crc32(body))
        with open(self._paths[self.seq & 1], "wb") as f:
            f.write(b"%d %d\n" % (self.seq, crc & 0xFFFFFFFF))
            f.write(body)
            if blob is not None:
                f.write(blob)
        self.writes += 1

# Power-loss-safe state file: two alternating slots (<path>.a, .b), each "seq crc32 json".
# save() writes the older slot, so a torn write leaves the other (last good) slot intact;
# load() takes the valid slot with the highest seq. Each save is one flash write, counted in
# .writes.
import json
from binascii import crc32


class StateFile:
    def __init__(self, path):
        self._paths = (path + ".a", path + ".b")
        self.seq = 0
        self.writes = 0
        self.corrupt = 0  # slots found torn or corrupt at load

    def _read(self, p):
        try:
            with open(p, "rb") as f:
                raw = f.read()
        except OSError:
            return None
        try:
            head, body = raw.split(b"\n", 1)
            seq, crc = head.split(b" ")
            if int(crc) != crc32(body) & 0xFFFFFFFF:
                raise ValueError
            return int(seq), json.loads(body)
        except (ValueError, TypeError):
            self.corrupt += 1
            return None

    def load(self):
        """The newest intact state dict, or None when there is none."""
        best = None
        for p in self._paths:
            got = self._read(p)
            if got and (best is None or got[0] > best[0]):
                best = got
        if best is None:
            return None
        self.seq = best[0]
        return best[1]

    def save(self, state):
        self.seq += 1
        body = json.dumps(state).encode()
        with open(self._paths[self.seq & 1], "wb") as f:
            f.write(b"%d %d\n" % (self.seq, crc32(body) & 0xFFFFFFFF))
            f.write(body)
        self.writes += 1

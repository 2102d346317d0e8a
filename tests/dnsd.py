"""A small DNS server on loopback for tests: answers each A query for a name in `names`
with its address (TTL `ttl`), other names with NXDOMAIN, or stays silent (`silent=True`: a
DNS server that never answers, as a dead resolver looks to the meter)."""
import socket
import struct

from udpd import Udpd


class Dnsd(Udpd):
    def __init__(self, names, ttl=300, silent=False):
        super().__init__()
        self.names = names
        self.ttl = ttl
        self.silent = silent
        self.queries = []                   # names asked, in order

    def answer(self, q):
        qid = struct.unpack_from("!H", q)[0]
        i, labels = 12, []
        while q[i]:
            labels.append(q[i + 1:i + 1 + q[i]].decode())
            i += q[i] + 1
        name = ".".join(labels)
        self.queries.append(name)
        if self.silent:
            return None
        ip = self.names.get(name)
        head = struct.pack("!HHHHHH", qid, 0x8180 if ip else 0x8183, 1, 1 if ip else 0, 0, 0)
        ans = b""
        if ip:      # a compressed name pointing at the question's, A, IN, TTL, 4 bytes
            ans = struct.pack("!HHHIH", 0xC00C, 1, 1, self.ttl, 4) + socket.inet_aton(ip)
        return head + q[12:i + 5] + ans

"""A UDP server on loopback for tests, one thread: each datagram goes to answer(data), whose
reply (bytes, or None for none) is sent back. Subclassed by ntpd.Ntpd and dnsd.Dnsd."""
import socket
import threading


class Udpd(threading.Thread):
    def __init__(self):
        super().__init__(daemon=True)
        self.s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.s.bind(("127.0.0.1", 0))
        self.s.settimeout(0.2)
        self.port = self.s.getsockname()[1]
        self._halt = False

    def answer(self, data):
        raise NotImplementedError

    def run(self):
        while not self._halt:
            try:
                data, addr = self.s.recvfrom(512)
            except socket.timeout:
                continue
            except OSError:
                return
            reply = self.answer(data)
            if reply is not None:
                self.s.sendto(reply, addr)

    def stop(self):
        self._halt = True
        self.join(1)
        self.s.close()

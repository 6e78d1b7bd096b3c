"""Slow clients for the tests and benchmarks/slow_clients.py: sockets that trickle their
headers, and a normal client timed beside them."""
import socket
import threading
import time

import requests


class Trickle:
    """``count`` connections to ``port`` that send a request line, then one more header line
    every ``every`` seconds, never ending their headers (a slowloris)."""

    def __init__(self, port, count=50, every=0.5, silent=False):
        self.port, self.count, self.every, self.silent = port, count, every, silent
        self.sockets = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        for _ in range(self.count):
            sock = socket.create_connection(('127.0.0.1', self.port), timeout=10)
            if not self.silent:
                sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')
            self.sockets.append(sock)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(self.every):
            if self.silent:
                continue
            for sock in self.sockets:
                try:
                    sock.sendall(b'X-Slow: a\r\n')
                except OSError:
                    pass   # closed by the server (408): the test looks at that

    def answers(self, wait=2.0):
        """What each connection received until it was closed (or ``wait`` s of silence)."""
        found = []
        for sock in self.sockets:
            sock.settimeout(wait)
            data, resets = b'', 0
            while resets < 2:
                try:
                    chunk = sock.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    # Our trickle met the closed socket: Linux reports the reset once,
                    # then still hands over what had arrived before it.
                    resets += 1
                    continue
                if not chunk:
                    break
                data += chunk
            found.append(data)
        return found

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for sock in self.sockets:
            sock.close()


def timed_gets(url, count=10, pause=0.1, timeout=5.0):
    """Seconds each of ``count`` fresh-connection GETs of ``url`` took (``timeout`` when it
    failed), with ``pause`` between them."""
    times = []
    for _ in range(count):
        start = time.monotonic()
        try:
            answer = requests.get(url, timeout=timeout, headers={'Connection': 'close'})
            ok = answer.status_code < 500
        except requests.RequestException:
            ok = False
        times.append(time.monotonic() - start if ok else timeout)
        time.sleep(pause)
    return times

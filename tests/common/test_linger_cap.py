"""The lingering close after an error answer holds at most ``limit`` sockets at once
(httpserver.LINGER_MAX_SOCKETS in a server): a client that provokes errors quickly cannot make
a process keep a descriptor open per error. Sockets handed over beyond the cap are closed at
once; the cap counts sockets lingering now, not sockets ever handed over."""
import socket
import time

from pacifica.common import httpserver


def _pair(listener):
    """A connected TCP pair (server side, client side) with request bytes the server side
    has not read, as after an error answer."""
    client = socket.create_connection(listener.getsockname(), timeout=10)
    server, _ = listener.accept()
    client.sendall(b'NOT HTTP AT ALL\r\n\r\nmore bytes nobody reads')
    return server, client


def _wait_for(predicate, limit=10.0):
    """Wait until ``predicate()`` is true (a wait, not a timed assertion)."""
    deadline = time.monotonic() + limit
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.01)
    return predicate()


def test_the_cap_is_the_servers():
    assert httpserver.LINGERER.limit == httpserver.LINGER_MAX_SOCKETS
    assert 100 <= httpserver.LINGER_MAX_SOCKETS <= 1000


def test_sockets_beyond_the_cap_are_closed_at_once():
    lingerer = httpserver._Lingerer(limit=3)  # pylint: disable=protected-access
    listener = socket.create_server(('127.0.0.1', 0))
    pairs = [_pair(listener) for _ in range(7)]
    try:
        for server, _ in pairs:
            lingerer.take(server)
        assert lingerer.lingering() == 3
        assert lingerer.closed_at_once == 4
        # The first three linger (still open, reading what their clients send) ...
        assert all(server.fileno() != -1 for server, _ in pairs[:3])
        for _, client in pairs[:3]:
            client.sendall(b'still sending')
            assert client.recv(1) == b''     # the server's FIN: its answer was complete
        # ... the other four were closed when they were handed over.
        assert all(server.fileno() == -1 for server, _ in pairs[3:])
        assert lingerer.lingering() == 3
    finally:
        for _, client in pairs:
            client.close()
    # Their clients gone, the lingering sockets are closed, and the cap frees up again.
    assert _wait_for(lambda: lingerer.lingering() == 0)
    assert all(server.fileno() == -1 for server, _ in pairs[:3])
    again = [_pair(listener) for _ in range(2)]
    try:
        for server, _ in again:
            lingerer.take(server)
        assert lingerer.lingering() == 2
        assert lingerer.closed_at_once == 4
    finally:
        for _, client in again:
            client.close()
        listener.close()
    assert _wait_for(lambda: lingerer.lingering() == 0)

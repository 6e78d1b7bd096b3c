"""Slow clients cannot starve a service: with 50 sockets trickling their headers (or saying
nothing at all), a normal client of the same service is answered within 1 s. Each service is
started the way its CLI starts it, with its default [server] settings. The figures are in
benchmarks/RESULTS.md (benchmarks/slow_clients.py)."""
import json
import select
import shutil
import socket
import subprocess
import threading
import time

import pytest
import requests

from pacifica.common import httpserver

from common.fleet import NAMES, start_fleet, stop_fleet
from common.rawhttp import assert_json_error, read_response, responses
from common.slowloris import Trickle, timed_gets

# A page of each service that goes through its resources and, where it has one, its
# database (the other pages are the same server).
PAGES = {'archiveinterface': '/', 'uniqueid': '/getid?range=1&mode=slowloris',
         'metadata': '/keys?_id=1', 'cartd': '/no-such-cart', 'proxy': '/'}


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('silent', [False, True], ids=['trickling', 'silent'])
def test_fifty_slow_sockets_do_not_delay_a_normal_client(fleet, name, silent):
    server = fleet[name]
    # One header line a second on each (the review trickled one every 4 s).
    with Trickle(server.port, count=50, every=1.0, silent=silent):
        times = timed_gets(server.url + PAGES[name], count=5, pause=0.1)
    assert max(times) < 1.0, times


def _trickle_until_answered(port, every=0.2, limit=10.0):
    """Trickle header lines on one connection until the server answers; return the answer
    (stopping at the first byte back, so no reset can destroy what the server said)."""
    with socket.create_connection(('127.0.0.1', port), timeout=limit) as sock:
        sock.sendall(b'GET / HTTP/1.1\r\nHost: x\r\n')
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            readable, _, _ = select.select([sock], [], [], every)
            if readable:
                break
            sock.sendall(b'X-Slow: a\r\n')
        data = b''
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data
            data += chunk


def test_headers_that_never_end_get_a_408(tmp_path):
    """Past header_timeout (here 2 s, set through UNIQUEID_HEADER_TIMEOUT) a trickling
    request is answered 408 with the JSON body and closed; normal clients are served all the
    while."""
    servers = start_fleet(tmp_path, {'UNIQUEID_HEADER_TIMEOUT': '2'}, names=['uniqueid'])
    try:
        server = servers['uniqueid']
        with Trickle(server.port, count=20, every=0.3):
            start = time.monotonic()
            data = _trickle_until_answered(server.port)
            took = time.monotonic() - start
            times = timed_gets(server.url + '/', count=5, pause=0.1)
        assert max(times) < 1.0, times
        assert took >= 2.0
        found = responses(data)
        assert len(found) == 1, data
        doc = assert_json_error(found[0], 408)
        assert 'headers took more than 2 s' in doc['message'], json.dumps(doc)
    finally:
        stop_fleet(servers)


def test_a_body_that_stops_coming_is_dropped_after_body_timeout(tmp_path):
    """cartd reads a cart request's body; when it stops arriving, the read gives up after
    body_timeout (here 1 s, CARTD_BODY_TIMEOUT) with a JSON 408, and nothing is created."""
    servers = start_fleet(tmp_path, {'CARTD_BODY_TIMEOUT': '1'}, names=['cartd'])
    try:
        server = servers['cartd']
        with socket.create_connection(('127.0.0.1', server.port), timeout=10) as sock:
            sock.sendall(b'POST /stalled-cart HTTP/1.1\r\nHost: x\r\nContent-Type: '
                         b'application/json\r\nContent-Length: 100\r\n\r\n{"fileids": [')
            start = time.monotonic()
            data = b''
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
            took = time.monotonic() - start
        assert 0.9 <= took < 5, took
        found = responses(data)
        assert len(found) == 1, data
        assert 'stopped arriving' in assert_json_error(found[0], 408)['message']
        assert timed_gets(server.url + '/stalled-cart', count=1)[0] < 1.0
        assert requests.head(server.url + '/stalled-cart', timeout=10).status_code == 404
    finally:
        stop_fleet(servers)


@pytest.fixture(scope='module')
def small_pool(tmp_path_factory):
    """UniqueID with 3 worker threads, so a few connections could hold them all."""
    servers = start_fleet(tmp_path_factory.mktemp('small-pool'), {'UNIQUEID_THREAD_POOL': '3'},
                          names=['uniqueid'])
    yield servers['uniqueid']
    stop_fleet(servers)


def test_kept_alive_clients_whose_next_request_trickles_hold_no_worker(small_pool):
    """A worker that served a kept-alive request waits a moment for the same client's next
    one (httpserver.NEXT_REQUEST_WAIT). Ten kept-alive connections (cheroot's keep-alive
    limit, more than the 3 workers) that each send a second request's first line and then
    stall must not hold the workers: a normal client is answered within 1 s, and each
    stalled request is answered once its headers are complete."""
    request = 'GET {} HTTP/1.1\r\nHost: x\r\n\r\n'.format(PAGES['uniqueid']).encode()
    socks = []
    try:
        for _ in range(10):
            sock = socket.create_connection(('127.0.0.1', small_pool.port), timeout=10)
            socks.append(sock)
            sock.sendall(request)
            head, _ = read_response(sock.makefile('rb'))
            assert head.startswith(b'HTTP/1.1 200'), head
            assert b'connection: close' not in head.lower(), head
            sock.sendall(request[:20])    # the next request, half a line of it
        times = timed_gets(small_pool.url + PAGES['uniqueid'], count=5, pause=0.1)
        assert max(times) < 1.0, times
        for sock in socks:
            sock.sendall(request[20:])
        for sock in socks:
            head, _ = read_response(sock.makefile('rb'))
            assert head.startswith(b'HTTP/1.1 200'), head
    finally:
        for sock in socks:
            sock.close()


def test_a_pipelining_client_does_not_keep_a_worker_from_others(small_pool):
    """Three connections each pipeline 3,000 requests in one write (one per worker thread)
    and read the answers slowly; a fourth client is still answered within 1 s: a worker
    serves a connection's next pipelined request itself only while nobody else waits."""
    request = b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'
    count = 3000
    socks, readers, answered = [], [], []

    def drain(sock):
        reader = sock.makefile('rb')
        for _ in range(count):
            head, _ = read_response(reader)
            if not head.startswith(b'HTTP/1.1 200'):
                return
            time.sleep(0.0005)
        answered.append(sock)

    try:
        for _ in range(3):
            sock = socket.create_connection(('127.0.0.1', small_pool.port), timeout=30)
            socks.append(sock)
            sender = threading.Thread(target=sock.sendall, args=(request * count,), daemon=True)
            sender.start()
            reader = threading.Thread(target=drain, args=(sock,), daemon=True)
            reader.start()
            readers.append((sender, reader))
        time.sleep(0.2)
        busy = [reader.is_alive() for _, reader in readers]
        times = timed_gets(small_pool.url + '/', count=5, pause=0.05)
        still_busy = [reader.is_alive() for _, reader in readers]
        assert all(busy), 'the pipelined requests finished too soon to test anything'
        assert any(still_busy), 'the pipelined requests finished too soon to test anything'
        assert max(times) < 1.0, times
        for sender, reader in readers:
            sender.join(60)
            reader.join(60)
        assert len(answered) == 3, 'not every pipelined request was answered 200'
    finally:
        for sock in socks:
            sock.close()


@pytest.mark.parametrize('name', ['uniqueid', 'metadata'])
def test_back_to_back_and_pipelined_requests_on_one_connection(fleet, name):
    """Requests sent one after another on one connection, and two sent in one write
    (pipelined), are each answered once, in order."""
    server = fleet[name]
    request = 'GET {} HTTP/1.1\r\nHost: x\r\n\r\n'.format(PAGES[name]).encode()
    with socket.create_connection(('127.0.0.1', server.port), timeout=10) as sock:
        reader = sock.makefile('rb')
        for _ in range(50):
            sock.sendall(request)
            head, _ = read_response(reader)
            assert head.startswith(b'HTTP/1.1 200'), head
        sock.sendall(request * 2)
        for _ in range(2):
            head, _ = read_response(reader)
            assert head.startswith(b'HTTP/1.1 200'), head
        sock.settimeout(0.5)
        with pytest.raises(socket.timeout):
            reader.read1(1)     # nothing more (buffered or not): no request answered twice


def test_clients_that_keep_sending_after_their_error_hold_no_worker(small_pool):
    """After an error answer that leaves request bytes unread the server lingers (reads and
    drops what still comes, up to a second) before it closes, so that the answer is not
    destroyed by a reset. Nine clients (three per worker) that are answered 400 and keep
    sending must not hold the workers for that second: a normal client is answered
    within 1 s (the lingering close used to run in the worker, three seconds in a row)."""
    socks = []
    stop = threading.Event()

    def keep_sending():
        while not stop.wait(0.1):
            for sock in socks:
                try:
                    sock.sendall(b'more bytes nobody reads\r\n')
                except OSError:
                    pass

    sender = threading.Thread(target=keep_sending, daemon=True)
    try:
        for _ in range(9):
            sock = socket.create_connection(('127.0.0.1', small_pool.port), timeout=10)
            sock.sendall(b'NOT HTTP AT ALL\r\n\r\n')
            socks.append(sock)
        sender.start()
        readers = [sock.makefile('rb') for sock in socks]
        heads = [read_response(readers[0])[0]]   # the first is answered: the rest are due
        times = timed_gets(small_pool.url + PAGES['uniqueid'], count=5, pause=0.05)
        heads += [read_response(reader)[0] for reader in readers[1:]]
        assert max(times) < 1.0, times
        assert all(head.startswith(b'HTTP/1.1 400') for head in heads), heads
    finally:
        stop.set()
        sender.join(5)
        for sock in socks:
            sock.close()


@pytest.mark.skipif(shutil.which('ss') is None, reason='needs ss (iproute2) to read the backlog')
@pytest.mark.parametrize('name', NAMES)
def test_every_service_listens_with_the_large_backlog(fleet, name):
    """A burst of new connections waits in the kernel's accept queue (1024, or
    net.core.somaxconn when lower) instead of having its SYNs dropped."""
    shown = subprocess.run(['ss', '-ltnH', 'sport = :{}'.format(fleet[name].port)],
                           capture_output=True, text=True, check=True).stdout.split()
    assert int(shown[2]) == httpserver.listen_backlog(), shown

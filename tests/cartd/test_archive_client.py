"""The workers' archive client against a small scripted HTTP server: keep-alive, reconnects,
and how every kind of bad answer is classified (retry or give up)."""
import hashlib
import http.server
import io
import json
import threading

import pytest

from pacifica.cartd.archive import ArchiveClient, HashMismatch, Terminal, Transient

DATA = bytes(range(256)) * 5000   # 1.28 MB
GOOD_HEAD = {'X-Pacifica-Messsage': 'File was found', 'X-Content-Length': str(len(DATA)),
             'X-Pacifica-Ctime': '1', 'Last-Modified': '1700000000.5',
             'X-Pacifica-Bytes-Per-Level': '(0,)', 'X-Pacifica-File-Storage-Media': 'disk'}


class Archive:
    """A threaded HTTP/1.1 server whose answer to each path is set by the test."""

    def __init__(self):
        self.answers = {}
        self.requests = []
        self.connections = 0
        owner = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = 'HTTP/1.1'

            def setup(self):
                owner.connections += 1
                super().setup()

            def _answer(self):
                owner.requests.append((self.command, self.path))
                length = int(self.headers.get('Content-Length') or 0)
                if length:
                    self.rfile.read(length)
                status, headers, body, close = owner.answers.get(
                    self.path, (404, {}, b'{"message": "gone"}', False))
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if 'Content-Length' not in headers and 'Transfer-Encoding' not in headers:
                    self.send_header('Content-Length', str(len(body)))
                self.end_headers()
                if self.command != 'HEAD':
                    self.wfile.write(body)
                if close:
                    self.close_connection = True
                    self.wfile.flush()
                    self.connection.shutdown(2)

            do_GET = do_HEAD = do_POST = _answer

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:{}/archive/'.format(self.server.server_port)
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def archive():
    server = Archive()
    yield server
    server.close()


def sha(data):
    return hashlib.sha256(data).hexdigest()


def test_status_pull_and_stage_on_one_connection(archive, tmp_path):
    archive.answers['/archive/f%201'] = (200, GOOD_HEAD, DATA, False)
    client = ArchiveClient(archive.url, timeout=5, chunk_size=64 * 1024)
    status = client.status('f 1')
    assert (status.size, status.mtime, status.on_disk) == (len(DATA), 1700000000, True)
    beats = []
    with open(tmp_path / 'out', 'w+b') as out:
        assert client.pull('f 1', out, 'sha256', sha(DATA).upper(), len(DATA),
                           heartbeat=lambda: beats.append(1)) == len(DATA)
    assert (tmp_path / 'out').read_bytes() == DATA and len(beats) >= len(DATA) // (64 * 1024)
    client.stage('f 1')
    assert [method for method, _path in archive.requests] == ['HEAD', 'GET', 'POST']
    assert archive.connections == 1


def test_ids_are_one_escaped_path_segment(archive):
    client = ArchiveClient(archive.url, timeout=5)
    with pytest.raises(Terminal, match='404'):
        client.status('../../etc/passwd')
    assert archive.requests == [('HEAD', '/archive/..%2F..%2Fetc%2Fpasswd')]


def test_a_connection_closed_by_the_archive_is_reopened(archive):
    archive.answers['/archive/a'] = (200, GOOD_HEAD, b'', True)   # closes after answering
    client = ArchiveClient(archive.url, timeout=5)
    for _ in range(3):
        assert client.status('a').size == len(DATA)
    assert archive.connections == 3


@pytest.mark.parametrize('status,kind,words', [
    (500, Transient, ['500', 'disk on fire']),
    (503, Transient, ['503']),
    (404, Terminal, ['404', 'disk on fire']),
    (403, Terminal, ['403']),
])
def test_error_answers_are_classified(archive, status, kind, words):
    archive.answers['/archive/x'] = (status, {}, json.dumps({'message': 'disk on fire'}).encode(),
                                     False)
    client = ArchiveClient(archive.url, timeout=5)
    for call, has_body in ((lambda: client.status('x'), False),   # HEAD: no body to quote
                           (lambda: client.stage('x'), True),
                           (lambda: client.pull('x', io.BytesIO(), 'md5', '0'), True)):
        with pytest.raises(kind) as caught:
            call()
        for word in words if has_body else words[:1]:
            assert word in str(caught.value)


@pytest.mark.parametrize('header,value,words', [
    ('X-Content-Length', None, ['lacks header', 'X-Content-Length']),
    ('X-Content-Length', 'many', ['file size']),
    ('Last-Modified', 'yesterday', ['mtime']),
    ('Last-Modified', '1e400', ['mtime']),
    ('X-Pacifica-File-Storage-Media', None, ['lacks header']),
    ('X-Content-Length', '-5', ['negative']),
])
def test_bad_status_headers_are_terminal(archive, header, value, words):
    headers = dict(GOOD_HEAD)
    if value is None:
        del headers[header]
    else:
        headers[header] = value
    archive.answers['/archive/h'] = (200, headers, b'', False)
    with pytest.raises(Terminal) as caught:
        ArchiveClient(archive.url, timeout=5).status('h')
    for word in words:
        assert word in str(caught.value)


def test_tape_media_is_not_on_disk(archive):
    archive.answers['/archive/t'] = (200, dict(GOOD_HEAD, **{
        'X-Pacifica-File-Storage-Media': 'tape'}), b'', False)
    assert not ArchiveClient(archive.url, timeout=5).status('t').on_disk


def test_a_body_cut_short_is_transient(archive):
    archive.answers['/archive/s'] = (200, {'Content-Length': str(len(DATA))}, DATA[:1000], True)
    client = ArchiveClient(archive.url, timeout=5)
    with pytest.raises(Transient, match='broke off after 1000 bytes'):
        client.pull('s', io.BytesIO(), 'sha256', sha(DATA), len(DATA))
    # The client is usable afterwards.
    archive.answers['/archive/s'] = (200, GOOD_HEAD, b'', False)
    assert client.status('s').size == len(DATA)


def test_a_size_other_than_announced_is_transient(archive):
    archive.answers['/archive/z'] = (200, {}, DATA[:10], False)
    with pytest.raises(Transient, match='gave 10 bytes, the archive announced'):
        ArchiveClient(archive.url, timeout=5).pull('z', io.BytesIO(), 'sha256', sha(DATA[:10]),
                                                   len(DATA))


def test_wrong_bytes_are_a_hash_mismatch(archive):
    archive.answers['/archive/w'] = (200, {}, b'not it', False)
    with pytest.raises(HashMismatch, match='does not match'):
        ArchiveClient(archive.url, timeout=5).pull('w', io.BytesIO(), 'sha256', sha(DATA))


def test_a_chunked_body(archive, tmp_path):
    body = b''.join(b'%x\r\n%s\r\n' % (len(piece), piece)
                    for piece in (DATA[:70000], DATA[70000:])) + b'0\r\n\r\n'
    archive.answers['/archive/c'] = (200, {'Transfer-Encoding': 'chunked'}, body, False)
    with open(tmp_path / 'out', 'w+b') as out:
        ArchiveClient(archive.url, timeout=5).pull('c', out, 'sha256', sha(DATA), len(DATA))
    assert (tmp_path / 'out').read_bytes() == DATA


def test_an_archive_that_is_not_there_is_transient():
    client = ArchiveClient('http://127.0.0.1:9/', timeout=2)
    with pytest.raises(Transient, match='cannot reach the archive for file q'):
        client.status('q')


def test_a_silent_archive_times_out_as_transient(archive):
    gate = threading.Event()
    original = archive.server.RequestHandlerClass._answer

    def slow(handler):
        gate.wait(5)
        original(handler)
    archive.server.RequestHandlerClass.do_HEAD = slow
    try:
        with pytest.raises(Transient, match='cannot reach the archive'):
            ArchiveClient(archive.url, timeout=0.5).status('slow')
    finally:
        gate.set()


@pytest.mark.parametrize('url', ['ftp://host/', 'archive:8080/', 'http:///x/'])
def test_bad_archive_urls_are_refused(url):
    with pytest.raises(ValueError, match='archive interface URL'):
        ArchiveClient(url)

"""The proxy against a real metadata service and a real archive interface (and, for faults
a real archive cannot be made to produce, a small fault-injecting one)."""
import hashlib
import http.server
import os
import socket
import threading

import pytest
import requests

from support import (assert_json_error, free_port, raw_http, run_admin, service_env,
                     start_service)

JSON = {'Content-Type': 'application/json'}


def sha1(data):
    """Hex sha1 of bytes."""
    return hashlib.sha1(data).hexdigest()


FILES = {
    # _id: (name, bytes)
    101: ('plain.txt', b'hello world\n'),
    102: ('big.bin', os.urandom(3 * 1024 * 1024 + 17)),
    103: ('a "quoted"; name\nwith newline.txt', b'odd name\n'),
    104: ('données été ☃.csv', b'a,b\n1,2\n'),
    105: ('dir/sub/../evil\\name.txt', b'base name only\n'),
    106: ('empty', b''),
    107: ('corrupt.bin', b'these bytes will rot' * 100000),    # 2 MB: fails mid-stream
    110: ('corrupt-small.bin', b'small and rotten'),               # fails before any byte
    108: ('wrong-size.bin', b'twelve bytes'),
    109: ('unknown-size.bin', b'size -1 in metadata'),
    # more 1 MiB blocks than the proxy's 8 receive buffers: each buffer is reused
    111: ('large.bin', os.urandom(12 * 1024 * 1024 + 5)),
}
DUPLICATE = b'same content twice'


@pytest.fixture(scope='module')
def suite(tmp_path_factory):
    """Metadata (SQLite) + archive interface + proxy, with FILES stored in both."""
    tmp = tmp_path_factory.mktemp('proxy')
    archive_dir = tmp / 'archive'
    archive_dir.mkdir()
    ai_env = service_env(tmp, 'archiveinterface')
    archive = start_service('pacifica.archiveinterface', tmp, ai_env,
                            ['--prefix', str(archive_dir)])
    md_env = service_env(tmp, 'metadata', PEEWEE_URL='sqliteext:///' + str(tmp / 'md.sqlite3'))
    assert run_admin('pacifica.metadata', ['dbsync'], md_env, cwd=str(tmp)).returncode == 0
    metadata = start_service('pacifica.metadata', tmp, md_env)
    servers = [archive, metadata]
    try:
        assert requests.put(metadata.url + '/transactions', json=[{'_id': 1}],
                            timeout=10).status_code == 200
        records = []
        for file_id, (name, data) in FILES.items():
            put = requests.put('{}/{}'.format(archive.url, file_id), data=data, timeout=30,
                               headers={'Content-Type': 'application/octet-stream'})
            assert put.status_code == 201, put.text
            size = {108: 99, 109: -1}.get(file_id, len(data))
            records.append({'_id': file_id, 'name': name, 'hashsum': sha1(data),
                            'hashtype': 'sha1', 'size': size, 'transaction': 1})
        for file_id in (202, 201):  # two files with the same content
            requests.put('{}/{}'.format(archive.url, file_id), data=DUPLICATE, timeout=10)
            records.append({'_id': file_id, 'name': 'dup{}.txt'.format(file_id),
                            'hashsum': sha1(DUPLICATE), 'hashtype': 'sha1',
                            'size': len(DUPLICATE), 'transaction': 1})
        resp = requests.put(metadata.url + '/files', json=records, timeout=10)
        assert resp.status_code == 200, resp.text
        # rot file 107 in the archive: same length, different bytes
        for root, _dirs, names in os.walk(archive_dir):
            for name in names:
                path = os.path.join(root, name)
                with open(path, 'rb') as handle:
                    content = handle.read()
                if content in (FILES[107][1], FILES[110][1]):
                    os.chmod(path, 0o644)
                    with open(path, 'wb') as handle:
                        handle.write(content[:-5] + b'ROT!!')
        px_env = service_env(tmp, 'proxy', METADATA_URL=metadata.url,
                             METADATA_STATUS_URL=metadata.url + '/keys',
                             ARCHIVEINTERFACE_URL=archive.url)
        proxy = start_service('pacifica.proxy', tmp, px_env)
        servers.append(proxy)
        yield {'proxy': proxy, 'metadata': metadata, 'archive': archive, 'tmp': tmp,
               'env': px_env}
    finally:
        for server in servers:
            server.stop()


def fetch(suite, file_id, method='GET', **kwargs):
    """Request a FILES entry through the proxy by its sha1."""
    return requests.request(method, '{}/files/sha1/{}'.format(
        suite['proxy'].url, sha1(FILES[file_id][1])), timeout=30, **kwargs)


def test_status_root(suite):
    assert requests.get(suite['proxy'].url + '/', timeout=5).json() == {
        'message': 'Pacifica Proxy Up and Running'}


@pytest.mark.parametrize('file_id', [101, 102, 106, 111])
def test_bytes_and_headers(suite, file_id):
    name, data = FILES[file_id]
    resp = fetch(suite, file_id)
    assert resp.status_code == 200
    assert resp.content == data
    assert resp.headers['Content-Type'] == 'application/octet-stream'
    assert resp.headers['Content-Length'] == str(len(data))
    assert resp.headers['Content-Disposition'] == 'attachment; filename="{}"'.format(name)
    assert resp.headers['ETag'] == '"{}"'.format(sha1(data))
    assert resp.headers['Accept-Ranges'] == 'bytes'


def test_hash_segments_are_case_insensitive(suite):
    data = FILES[101][1]
    resp = requests.get('{}/files/SHA1/{}'.format(suite['proxy'].url, sha1(data)), timeout=10)
    assert resp.status_code == 200 and resp.content == data


def test_upper_case_hash_sum_finds_the_file(suite):
    data = FILES[101][1]
    for hashsum in (sha1(data).upper(), sha1(data)[:20].upper() + sha1(data)[20:]):
        resp = requests.get('{}/files/Sha1/{}'.format(suite['proxy'].url, hashsum), timeout=10)
        assert resp.status_code == 200 and resp.content == data
        assert resp.headers['ETag'] == '"{}"'.format(sha1(data))
        assert requests.head('{}/files/SHA1/{}'.format(suite['proxy'].url, hashsum),
                             timeout=10).status_code == 200


@pytest.mark.parametrize('method, file_id, headers, status', [
    ('GET', 108, {}, 502), ('HEAD', 108, {}, 502),     # the archive's size is not metadata's
    ('GET', 110, {}, 502),                               # the bytes do not hash to the sum
    ('GET', 101, {'Range': 'bytes=500-'}, 416),
])
def test_error_answers_name_no_download(suite, method, file_id, headers, status):
    """An error is never offered as the file: no Content-Disposition on any non-2xx, so
    ``curl -OJ`` or a browser does not save the JSON error under the file's name."""
    resp = fetch(suite, file_id, method, headers=headers)
    assert resp.status_code == status
    assert 'Content-Disposition' not in resp.headers
    if method == 'GET':
        assert_json_error(resp, status)


def test_unknown_hash_is_404(suite):
    resp = requests.get('{}/files/sha1/{}'.format(suite['proxy'].url, '0' * 40), timeout=10)
    assert_json_error(resp, 404, 'File does not exist.')


@pytest.mark.parametrize('path, status, words', [
    ('/files', 404, 'Missing parameters: hashsum'),
    ('/files/sha1', 404, 'Missing parameters: hashsum'),
    ('/files/sha1/' + '0' * 40 + '/extra', 404, 'Nothing matches'),
    ('/files/sha9/' + '0' * 40, 400, 'unknown hash type'),
    ('/files/sha1/xyz', 400, '40 hexadecimal digits'),
    ('/files/sha1/' + '0' * 41, 400, '40 hexadecimal digits'),
    ('/files/md5/' + '0' * 40, 400, '32 hexadecimal digits'),
    ('/files/..%2F..%2Fetc/passwd', 400, 'unknown hash type'),
    ('/files/sha1/..%2F..%2F' + 'a' * 34, 400, 'hexadecimal'),
    ('/files/sha1/' + 'a' * 5000, 400, 'hexadecimal'),
    ('/files/shake_128/' + '0' * 32, 400, 'unknown hash type'),
])
def test_malformed_requests(suite, path, status, words):
    assert_json_error(requests.get(suite['proxy'].url + path, timeout=10), status, words)


def test_head_sends_headers_only(suite):
    data = FILES[102][1]
    resp = fetch(suite, 102, 'HEAD')
    assert resp.status_code == 200
    assert resp.content == b''
    assert resp.headers['Content-Length'] == str(len(data))
    assert resp.headers['Content-Disposition'] == 'attachment; filename="big.bin"'
    assert fetch(suite, 101, 'HEAD', headers={}).headers['ETag'] == '"{}"'.format(
        sha1(FILES[101][1]))


@pytest.mark.parametrize('header, start, stop', [
    ('bytes=0-9', 0, 10), ('bytes=1048570-1048600', 1048570, 1048601),
    ('bytes=3145000-', 3145000, None), ('bytes=-100', -100, None),
    ('bytes=0-99999999999', 0, None), ('BYTES=0-9', 0, 10), ('bytes=0-9, ', 0, 10),
    ('bytes=0-' + '9' * 5000, 0, None), ('bytes=-' + '9' * 40, 0, None),
])
def test_range_requests(suite, header, start, stop):
    data = FILES[102][1]
    resp = fetch(suite, 102, headers={'Range': header})
    assert resp.status_code == 206
    part = data[start:stop] if start >= 0 else data[start:]
    assert resp.content == part
    first = start if start >= 0 else len(data) + start
    assert resp.headers['Content-Range'] == 'bytes {}-{}/{}'.format(
        first, first + len(part) - 1, len(data))
    assert resp.headers['Content-Length'] == str(len(part))


def test_a_long_range_through_the_reused_buffers(suite):
    data = FILES[111][1]
    resp = fetch(suite, 111, headers={'Range': 'bytes=1000-'})
    assert resp.status_code == 206 and resp.content == data[1000:]


@pytest.mark.parametrize('header', ['bytes=0-1,5-6', 'items=0-5', 'bytes=9-3', 'bytes=5-3',
                                    'nonsense', 'bytes = 0-5'])
def test_ranges_we_ignore_get_the_whole_file(suite, header):
    resp = fetch(suite, 101, headers={'Range': header})
    assert resp.status_code == 200 and resp.content == FILES[101][1]
    assert 'Content-Range' not in resp.headers


@pytest.mark.parametrize('header', ['bytes=-5', 'bytes=-1', 'bytes=5-3'])
def test_a_range_of_an_empty_file_gets_the_empty_file(suite, header):
    """The last N bytes of an empty file are satisfiable but are no bytes, which a 206
    cannot express (never ``Content-Range: bytes 0--1/0``): the whole, verified, empty file."""
    resp = fetch(suite, 106, headers={'Range': header})
    assert (resp.status_code, resp.content) == (200, b'')
    assert resp.headers['Content-Length'] == '0'
    assert 'Content-Range' not in resp.headers


@pytest.mark.parametrize('header', ['bytes=0-', 'bytes=-0'])
def test_no_other_range_of_an_empty_file_is_satisfiable(suite, header):
    resp = fetch(suite, 106, headers={'Range': header})
    assert_json_error(resp, 416, 'outside the file')
    assert resp.headers['Content-Range'] == 'bytes */0'


def test_unsatisfiable_range(suite):
    resp = fetch(suite, 101, headers={'Range': 'bytes=500-'})
    assert_json_error(resp, 416, 'outside the file')
    assert resp.headers['Content-Range'] == 'bytes */{}'.format(len(FILES[101][1]))


@pytest.mark.parametrize('file_id, header', [
    (103, 'attachment; filename="a _quoted_; namewith newline.txt"; '
          "filename*=UTF-8''a%20%22quoted%22%3B%20namewith%20newline.txt"),
    (104, 'attachment; filename="donn_es _t_ _.csv"; '
          "filename*=UTF-8''donn%C3%A9es%20%C3%A9t%C3%A9%20%E2%98%83.csv"),
    (105, 'attachment; filename="name.txt"'),  # a backslash separates too
])
def test_content_disposition_is_safe_for_any_name(suite, file_id, header):
    resp = fetch(suite, file_id)
    assert resp.status_code == 200 and resp.content == FILES[file_id][1]
    assert resp.headers['Content-Disposition'] == header


def test_name_with_newline_in_raw_headers(suite):
    """The raw response has no header split by the newline in the name."""
    data = FILES[103][1]
    raw = raw_http(suite['proxy'].port,
                   'GET /files/sha1/{} HTTP/1.0\r\n\r\n'.format(sha1(data)).encode())
    head = raw.split(b'\r\n\r\n', 1)[0]
    assert b'\nwith' not in head and all(line.isascii() for line in head.split(b'\r\n'))


def test_corrupt_file_transfer_is_aborted(suite):
    """The archive's bytes no longer match the hash: the client never gets a whole file."""
    import urllib3  # pylint: disable=import-outside-toplevel
    data = FILES[107][1]
    with pytest.raises((requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ConnectionError)):
        fetch(suite, 107).content  # pylint: disable=expression-not-assigned
    resp = fetch(suite, 107, stream=True)
    assert resp.status_code == 200
    got = b''
    with pytest.raises(urllib3.exceptions.ProtocolError):
        for chunk in resp.raw.stream(65536, decode_content=False):
            got += chunk
    assert 0 < len(got) < len(data)


def test_corrupt_small_file_is_a_clean_502(suite):
    assert_json_error(fetch(suite, 110), 502, 'did not deliver the file intact')


def test_archive_size_disagreeing_with_metadata_is_502(suite):
    assert_json_error(fetch(suite, 108), 502, 'metadata says 99')
    assert fetch(suite, 108, 'HEAD').status_code == 502


def test_unknown_size_in_metadata_uses_the_archive_size(suite):
    resp = fetch(suite, 109)
    assert resp.status_code == 200 and resp.content == FILES[109][1]


def test_several_files_with_one_hash_give_the_lowest_id(suite):
    for _ in range(3):
        resp = requests.get('{}/files/sha1/{}'.format(suite['proxy'].url, sha1(DUPLICATE)),
                            timeout=10)
        assert resp.content == DUPLICATE
        assert resp.headers['Content-Disposition'] == 'attachment; filename="dup201.txt"'


def test_file_missing_from_the_archive_is_404(suite):
    data = b'only in metadata'
    requests.put(suite['metadata'].url + '/files', timeout=10, json=[{
        '_id': 150, 'name': 'ghost', 'hashsum': sha1(data), 'hashtype': 'sha1',
        'size': len(data), 'transaction': 1}])
    resp = requests.get('{}/files/sha1/{}'.format(suite['proxy'].url, sha1(data)), timeout=10)
    assert_json_error(resp, 404, 'not in the archive')


def test_accel_mode(suite, tmp_path):
    env = dict(suite['env'], NGINX_ACCEL='true')
    proxy = start_service('pacifica.proxy', tmp_path, env)
    try:
        name, data = FILES[104]
        resp = requests.get('{}/files/sha1/{}'.format(proxy.url, sha1(data)), timeout=10)
        assert resp.status_code == 200 and resp.content == b''
        assert resp.headers['X-Accel-Redirect'] == '/archivei_accel/104'
        assert resp.headers['Content-Type'] == 'application/octet-stream'
        assert resp.headers['Content-Disposition'].startswith('attachment; filename="donn_es')
        assert "filename*=UTF-8''" in resp.headers['Content-Disposition']
        assert name  # the archive was not asked: nothing to check there
    finally:
        proxy.stop()


def test_metadata_down_is_503(suite, tmp_path):
    env = dict(suite['env'], METADATA_URL='http://127.0.0.1:{}'.format(free_port()),
               METADATA_STATUS_ATTEMPTS='0')
    env['METADATA_STATUS_URL'] = suite['metadata'].url + '/keys'  # start-up wait passes
    proxy = start_service('pacifica.proxy', tmp_path, env)
    try:
        resp = requests.get('{}/files/sha1/{}'.format(proxy.url, sha1(FILES[101][1])),
                            timeout=10)
        assert_json_error(resp, 503, 'metadata service cannot be reached')
    finally:
        proxy.stop()


def test_cli_waits_for_metadata_then_gives_up(suite, tmp_path):
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    env = dict(suite['env'], METADATA_STATUS_URL='http://127.0.0.1:{}/keys'.format(free_port()),
               METADATA_STATUS_ATTEMPTS='2', METADATA_STATUS_WAIT='0.1')
    done = subprocess.run([sys.executable, '-m', 'pacifica.proxy', '-p', str(free_port())],
                          env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 1
    assert 'is not answering' in done.stderr and 'Traceback' not in done.stderr


# -- faults a real archive interface cannot be made to produce ----------------------------
class FaultyArchive(http.server.ThreadingHTTPServer):
    """An archive interface that reports a file but fails to deliver it as told."""

    daemon_threads = True

    def __init__(self, mode, data):
        self.mode, self.data = mode, data
        super().__init__(('127.0.0.1', 0), FaultyHandler)


class FaultyHandler(http.server.BaseHTTPRequestHandler):
    """HEAD says all is well; GET fails the way ``server.mode`` says."""

    protocol_version = 'HTTP/1.1'

    def log_message(self, *args):  # pylint: disable=arguments-differ
        pass

    def do_HEAD(self):  # pylint: disable=invalid-name
        """The file looks fine."""
        self.send_response(204)
        self.send_header('X-Content-Length', str(len(self.server.data)))
        self.end_headers()

    def do_GET(self):  # pylint: disable=invalid-name
        """Fail."""
        data = self.server.data
        if self.server.mode == 'error':
            body = b'{"status": "500 Internal Server Error", "traceback": "..."}'
            self.send_response(500)
            self.send_header('Content-Length', str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        elif self.server.mode == 'short':
            self.send_response(200)
            self.send_header('Content-Length', str(len(data)))
            self.end_headers()
            self.wfile.write(data[:len(data) // 2])
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
        elif self.server.mode == 'long':
            self.send_response(200)
            self.send_header('Connection', 'close')
            self.end_headers()
            self.wfile.write(data + b'surplus')


@pytest.mark.parametrize('mode', ['error', 'short', 'long'])
def test_failing_archive_never_gives_a_complete_looking_file(suite, tmp_path, mode):
    data = FILES[102][1]
    archive = FaultyArchive(mode, data)
    thread = threading.Thread(target=archive.serve_forever, daemon=True)
    thread.start()
    env = dict(suite['env'], ARCHIVEINTERFACE_URL='http://127.0.0.1:{}'.format(
        archive.server_address[1]))
    proxy = start_service('pacifica.proxy', tmp_path, env)
    try:
        url = '{}/files/sha1/{}'.format(proxy.url, sha1(data))
        if mode == 'error':
            assert_json_error(requests.get(url, timeout=10), 502, 'answered 500')
        else:
            with pytest.raises((requests.exceptions.ChunkedEncodingError,
                                requests.exceptions.ConnectionError)):
                requests.get(url, timeout=10).content  # pylint: disable=expression-not-assigned
    finally:
        proxy.stop()
        archive.shutdown()
        archive.server_close()


# -- property-based: hostile input -----------------------------------------------------------
WRONG_SIZE = sha1(FILES[108][1])


def _hostile_file_request():
    """(method, path, headers): hostile or case-mangled hash types and sums, extra or
    missing segments, and any Range header."""
    from hypothesis import strategies as st  # pylint: disable=import-outside-toplevel
    from support import hostile_strategies, pct  # pylint: disable=import-outside-toplevel
    hostile = hostile_strategies()
    known = sha1(FILES[101][1])
    hashsum = st.one_of(
        st.sampled_from([known, '0' * 40, WRONG_SIZE]).flatmap(
            lambda digits: st.lists(st.booleans(), min_size=40, max_size=40).map(
                lambda upper: ''.join(c.upper() if u else c for c, u in zip(digits, upper)))),
        hostile['text'])
    hashtype = st.one_of(st.sampled_from(['sha1', 'SHA1', 'Sha1', 'md5', 'sha256', 'shake_128']),
                         hostile['text'])
    segments = st.tuples(hashtype, hashsum).map(lambda pair: [pct(p) for p in pair])
    # the hash type followed by none, one or two other segments: missing or extra ones
    odd_segments = st.tuples(segments, st.lists(hostile['text'].map(pct), max_size=2)).map(
        lambda both: both[0][:1] + both[1])
    paths = st.one_of(st.one_of(segments, odd_segments).map(
        lambda segs: '/files/' + '/'.join(segs)), st.sampled_from(
            ['/api/metrics', '/api/ready', '/api', '/']).flatmap(
                lambda base: hostile['text'].map(lambda q: base + '?x=' + pct(q))))
    ranges = st.one_of(st.just({}), hostile['header'].map(lambda value: {'Range': value}))
    return st.tuples(st.sampled_from(['GET', 'HEAD']), paths, ranges)


def test_hostile_file_requests_never_5xx_and_errors_name_no_download(suite):
    """Every answer below 500 (metadata and the archive are up) but the documented 502 of
    file 108, whose archive size is wrong; errors are the JSON error document without
    Content-Disposition, and no body is larger than the file."""
    from hypothesis import given, note  # pylint: disable=import-outside-toplevel
    from support import check_answer, property_settings  # pylint: disable=import-outside-toplevel

    @property_settings(80)
    @given(case=_hostile_file_request())
    def check(case):
        method, path, headers = case
        note(repr(case))
        resp = requests.request(method, suite['proxy'].url + path, headers=headers, timeout=30)
        if resp.status_code == 502 and WRONG_SIZE in path.lower():
            # file 108's archive size is not metadata's on purpose: its documented 502
            assert method == 'HEAD' or 'metadata says 99' in resp.json()['message']
            return
        if check_answer(resp):
            assert 'Content-Disposition' not in resp.headers
        elif 'Content-Disposition' in resp.headers:   # the file, or a part of it
            assert resp.content in FILES[101][1]
        elif method == 'GET' and resp.headers['Content-Type'].startswith('application/json'):
            # / (or a path the client normalised to it, '/files/..'), or /api/ready
            assert set(resp.json()) & {'message', 'checks', 'status'}, resp.text[:200]
    check()

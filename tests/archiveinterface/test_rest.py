"""The archive protocol through real HTTP against a real archive interface process."""
import hashlib
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor

import requests

from support import assert_json_error, free_port, raw_http, service_env, start_service

ALLOW = 'DELETE, GET, HEAD, PATCH, POST, PUT'


def put(archive, fileid, data, **headers):
    """PUT raw bytes the way pacifica-ingest does."""
    headers.setdefault('Content-Type', 'application/octet-stream')
    return requests.put('{}/{}'.format(archive.url, fileid), data=data, headers=headers)


def tree(path):
    """Every file and directory under ``path`` (relative names)."""
    found = set()
    for parent, dirs, files in os.walk(path):
        for name in dirs + files:
            found.add(os.path.relpath(os.path.join(parent, name), path))
    return found


def test_status_root(archive):
    response = requests.get(archive.url + '/')
    assert response.status_code == 200
    assert response.json() == {'message': 'Pacifica Archive Interface Up and Running'}
    assert response.headers['Allow'] == ALLOW
    assert requests.head(archive.url + '/').status_code == 404


def test_put_get_head_round_trip(archive):
    data = os.urandom(300000)
    response = put(archive, 'round.bin', data,
                   **{'Last-Modified': 'Sun, 06 Nov 1994 08:49:37 GMT'})
    assert response.status_code == 201
    assert response.json() == {'message': 'File added to archive', 'total_bytes': 300000}
    stored = archive.root / 'round.bin'
    assert stored.read_bytes() == data
    assert oct(stored.stat().st_mode & 0o777) == oct(0o444)
    assert stored.stat().st_mtime == 784111777

    got = requests.get(archive.url + '/round.bin')
    assert got.status_code == 200
    assert got.content == data
    assert got.headers['Content-Type'] == 'application/octet-stream'
    assert got.headers['Allow'] == ALLOW

    head = requests.head(archive.url + '/round.bin')
    assert head.status_code == 204
    assert head.headers['X-Pacifica-Messsage'] == 'File was found'
    assert head.headers['X-Content-Length'] == '300000'
    assert float(head.headers['Last-Modified']) == 784111777.0
    float(head.headers['X-Pacifica-Ctime'])
    assert head.headers['X-Pacifica-Bytes-Per-Level'] == '(300000,)'
    assert head.headers['X-Pacifica-File-Storage-Media'] == 'disk'
    assert head.headers['Content-Type'] == 'application/json'
    assert head.headers['X-Pacifica-File'] == 'round.bin'   # relative: no server paths leak


def test_put_asctime_last_modified_and_default_now(archive):
    assert put(archive, 'asc.txt', b'x',
               **{'Last-Modified': 'Sun Nov  6 08:49:37 1994'}).status_code == 201
    assert (archive.root / 'asc.txt').stat().st_mtime == 784111777
    assert put(archive, 'now.txt', b'x').status_code == 201
    assert abs((archive.root / 'now.txt').stat().st_mtime - __import__('time').time()) < 60


def test_put_bad_last_modified_is_400_and_stores_nothing(archive):
    response = put(archive, 'baddate.txt', b'abc', **{'Last-Modified': 'last tuesday'})
    assert_json_error(response, 400, 'Last-Modified')
    assert not (archive.root / 'baddate.txt').exists()


def test_put_overwrites_and_form_bodies_stay_raw(archive):
    assert put(archive, 'over.txt', b'first').status_code == 201
    body = b'a=1&b=2'
    response = requests.put(archive.url + '/over.txt', data=body,
                            headers={'Content-Type': 'application/x-www-form-urlencoded'})
    assert response.status_code == 201
    assert (archive.root / 'over.txt').read_bytes() == body


def test_put_without_length_is_411_and_short_body_is_400(archive):
    def chunks():
        yield b'abc'
    response = requests.put(archive.url + '/chunked.txt', data=chunks())
    assert_json_error(response, 411, 'Content-Length')
    assert not (archive.root / 'chunked.txt').exists()

    # A body that ends before Content-Length: the server must store nothing.
    answer = raw_http(archive.port, b'PUT /short.txt HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Length: 100\r\nConnection: close\r\n\r\n' + b'x' * 10,
                      half_close=True)
    assert answer.startswith(b'HTTP/1.1 400'), answer[:200]
    assert not any('short' in name for name in tree(archive.root))


def test_byte_range_and_range_header(archive):
    data = bytes(range(256)) * 40
    put(archive, 'ranged.bin', data)
    url = archive.url + '/ranged.bin'
    response = requests.get(url, params={'byte_range': '10-20'})
    assert response.status_code == 200 and response.content == data[10:20]
    assert requests.get(url, params={'byte_range': '20-10'}).content == b''
    assert requests.get(url, params={'byte_range': '10200-99999'}).content == data[10200:]
    assert_json_error(requests.get(url, params={'byte_range': 'ten-20'}), 400, 'byte range')

    partial = requests.get(url, headers={'Range': 'bytes=100-199'})
    assert partial.status_code == 206
    assert partial.content == data[100:200]
    assert partial.headers['Content-Range'] == 'bytes 100-199/{}'.format(len(data))
    assert requests.get(url, headers={'Range': 'bytes=-5'}).content == data[-5:]
    assert requests.get(url, headers={'Range': 'bytes=10230-'}).content == data[10230:]
    unsatisfiable = requests.get(url, headers={'Range': 'bytes=999999-'})
    assert unsatisfiable.status_code == 416
    assert unsatisfiable.headers['Content-Range'] == 'bytes */{}'.format(len(data))
    # Several ranges: the header may be ignored, and is.
    assert requests.get(url, headers={'Range': 'bytes=0-1,5-6'}).content == data
    # The "Apache Killer" pattern: 200 overlapping ranges get the file once, not 200 times.
    many = requests.get(url, headers={'Range': 'bytes=' + ','.join(['0-10239'] * 200)})
    assert many.status_code == 200 and many.content == data
    assert many.headers['Content-Length'] == str(len(data))



def test_invalid_ranges_and_an_empty_file(archive):
    """A reversed range is invalid and ignored (the whole file, 200, not 416); the last N
    bytes of an empty file are the whole empty file, never ``Content-Range: bytes 0--1/0``."""
    data = bytes(range(256)) * 4
    put(archive, 'reversed.bin', data)
    for value in ('bytes=5-3', 'bytes=1023-0', 'bytes = 0-5', 'bytes=0-5;q'):
        whole = requests.get(archive.url + '/reversed.bin', headers={'Range': value})
        assert (whole.status_code, whole.content) == (200, data), value
        assert 'Content-Range' not in whole.headers
    upper = requests.get(archive.url + '/reversed.bin', headers={'Range': 'BYTES=1-2'})
    assert (upper.status_code, upper.content) == (206, data[1:3])
    assert upper.headers['Content-Range'] == 'bytes 1-2/{}'.format(len(data))

    put(archive, 'empty.bin', b'')
    url = archive.url + '/empty.bin'
    for value in ('bytes=-5', 'bytes=-1', 'bytes=5-3'):
        empty = requests.get(url, headers={'Range': value})
        assert (empty.status_code, empty.content) == (200, b''), value
        assert empty.headers['Content-Length'] == '0'
        assert 'Content-Range' not in empty.headers
    for value in ('bytes=0-', 'bytes=0-0', 'bytes=-0'):
        unsatisfiable = requests.get(url, headers={'Range': value})
        assert unsatisfiable.status_code == 416, value
        assert unsatisfiable.headers['Content-Range'] == 'bytes */0'

def test_missing_files_are_404(archive):
    url = archive.url + '/absent.txt'
    assert_json_error(requests.get(url), 404, 'absent.txt')
    assert_json_error(requests.post(url, data=b''), 404)
    assert_json_error(requests.delete(url), 404)
    head = requests.head(url)
    assert head.status_code == 404
    assert head.headers['X-Pacifica-Messsage'] == 'File Not found'
    for name in ('X-Content-Length', 'Last-Modified', 'X-Pacifica-Ctime',
                 'X-Pacifica-Bytes-Per-Level', 'X-Pacifica-File-Storage-Media'):
        assert head.headers[name] == 'File Not Found'
    assert 'absent.txt' not in tree(archive.root)


def test_hostile_ids_are_refused_and_nothing_escapes(archive):
    before = tree(archive.base)
    secret = archive.base / 'secret.txt'
    secret.write_text('do not read')
    before = tree(archive.base)
    for raw in ('..%2Fsecret.txt', '..%2F..%2F..%2Fetc%2Fhostname', '%2Fetc%2Fhostname',
                '%2F%2Fx', '%2E%2E', 'a%00b', 'x' * 300, 'a+upload-1'):
        url = '{}/{}'.format(archive.url, raw)
        for response in (requests.get(url), requests.put(url, data=b'pwned'),
                         requests.post(url, data=b''), requests.delete(url),
                         requests.patch(url, json={'path': '/etc/hostname'})):
            assert response.status_code in (400, 403, 404), (raw, response.status_code)
            assert response.json()['traceback'] == ''
            assert b'do not read' not in response.content
    assert tree(archive.base) == before
    assert secret.read_text() == 'do not read'


def test_symlink_inside_root_is_not_followed(archive):
    outside = archive.base / 'outside.txt'
    outside.write_text('outside')
    os.symlink(str(outside), str(archive.root / 'link.txt'))
    assert requests.get(archive.url + '/link.txt').status_code == 403
    assert requests.put(archive.url + '/link.txt', data=b'x').status_code == 403
    assert outside.read_text() == 'outside'


def test_extra_segments(archive):
    put(archive, 'seg.txt', b'segment')
    assert requests.get(archive.url + '/seg.txt/extra').content == b'segment'
    assert requests.get(archive.url + '/seg.txt/').content == b'segment'
    assert_json_error(requests.delete(archive.url + '/seg.txt/extra'), 404)


def test_stage_and_delete(archive):
    put(archive, 'gone.txt', b'bye')
    staged = requests.post(archive.url + '/gone.txt', data=b'')
    assert staged.status_code == 200
    assert staged.json() == {'message': 'File was staged', 'file': 'gone.txt'}
    deleted = requests.delete(archive.url + '/gone.txt')
    assert deleted.status_code == 200 and deleted.content == b''
    assert not (archive.root / 'gone.txt').exists()
    assert requests.head(archive.url + '/gone.txt').status_code == 404


def test_patch_moves_only_from_the_staging_root(archive):
    source = archive.staging / 'incoming.dat'
    source.write_bytes(b'incoming')
    os.utime(str(source), (1000000000, 1000000000))
    url = archive.url + '/moved.dat'
    response = requests.patch(url, json={'path': str(source)})
    assert response.status_code == 200
    assert response.json() == {'message': 'File Moved Successfully'}
    assert not source.exists()
    assert (archive.root / 'moved.dat').read_bytes() == b'incoming'
    assert (archive.root / 'moved.dat').stat().st_mtime == 1000000000

    outside = archive.base / 'not-staged.dat'
    outside.write_text('stay')
    refused = assert_json_error(requests.patch(url, json={'path': str(outside)}), 403,
                                'outside the staging root')
    assert str(archive.staging) not in refused['message']   # no server paths of ours
    sneaky = str(archive.staging / '..' / 'not-staged.dat')
    assert_json_error(requests.patch(url, json={'path': sneaky}), 403)
    os.symlink(str(outside), str(archive.staging / 'link.dat'))
    assert_json_error(requests.patch(url, json={'path': str(archive.staging / 'link.dat')}),
                      400, 'symbolic link')
    assert outside.read_text() == 'stay'
    assert_json_error(requests.patch(url, json={'path': str(archive.staging / 'none')}), 404)
    assert_json_error(requests.patch(url, json={'nopath': 1}), 400, 'path')
    assert_json_error(requests.patch(url, data='{not json', headers={
        'Content-Type': 'application/json'}), 400, 'Invalid JSON')
    assert_json_error(requests.patch(url, data='[' * 60000, headers={
        'Content-Type': 'application/json'}), 400, 'Invalid JSON')
    assert_json_error(requests.patch(url, data='{}', headers={
        'Content-Type': 'text/plain'}), 415)


def test_eight_parallel_downloads_are_byte_correct(archive):
    files = {'par{}.bin'.format(n): os.urandom(6 * 1024 * 1024 + n) for n in range(8)}
    for name, data in files.items():
        assert put(archive, name, data).status_code == 201
    expected = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}

    def fetch(name):
        digest = hashlib.sha256()
        with requests.get(archive.url + '/' + name, stream=True) as response:
            assert response.status_code == 200
            for chunk in response.iter_content(65536):
                digest.update(chunk)
        return name, digest.hexdigest()

    for _round in range(2):
        with ThreadPoolExecutor(8) as pool:
            results = dict(pool.map(fetch, list(files) * 2))
        assert results == expected


def test_patch_is_disabled_without_a_staging_root(tmp_path):
    env = service_env(tmp_path, 'archiveinterface')
    server = start_service('pacifica.archiveinterface', tmp_path, env,
                           ['--prefix', str(tmp_path / 'root')])
    try:
        (tmp_path / 'src').write_text('x')
        response = requests.patch(server.url + '/x', json={'path': str(tmp_path / 'src')})
        assert_json_error(response, 403, 'PATCH is disabled')
        assert (tmp_path / 'src').exists()
    finally:
        server.stop()


def test_id2filename_from_the_ini_and_cherrypy_config_flag(tmp_path):
    ini = tmp_path / 'archive.ini'
    ini.write_text('[posix]\nuse_id2filename = true\nprefix = {}\n'.format(tmp_path / 'r'))
    port = free_port()
    cpconf = tmp_path / 'cp.conf'
    cpconf.write_text('[global]\nserver.socket_port: {}\n'.format(port))
    env = service_env(tmp_path, 'archiveinterface', ARCHIVEINTERFACE_CONFIG=ini)
    # --cherrypy-config names the port; -p is not given, so the file's port is used.
    from support import Server  # pylint: disable=import-outside-toplevel
    server = Server([sys.executable, '-m', 'pacifica.archiveinterface', '-a', '127.0.0.1',
                     '--cherrypy-config', str(cpconf)], env, port, str(tmp_path))
    try:
        assert requests.put(server.url + '/1234', data=b'hex').status_code == 201
        assert (tmp_path / 'r' / 'd2' / '4d2').read_bytes() == b'hex'
        assert_json_error(requests.get(server.url + '/foo.txt'), 400, 'integer')
    finally:
        server.stop()


def test_unimplemented_backend_type_exits_1(tmp_path):
    env = service_env(tmp_path, 'archiveinterface')
    done = subprocess.run([sys.executable, '-m', 'pacifica.archiveinterface', '-t', 'hpss',
                           '-p', str(free_port())], env=env, capture_output=True, text=True,
                          timeout=60, check=False)
    assert done.returncode == 1
    assert 'only posix' in done.stderr
    assert 'Traceback' not in done.stderr

"""Property-based tests of the archive interface: hostile values in every path segment,
query parameter, header and PATCH body field, sent to a real server. Every answer is below
500 and errors are the JSON error document; a refused request changes nothing in the
archive or the staging root; no byte range answer is larger than the file."""
import json
import os

import pytest
import requests
from hypothesis import given, note
from hypothesis import strategies as st

from support import (check_answer, hostile_strategies, pct, property_settings, service_env,
                     start_service)

HOSTILE = hostile_strategies()
FILE = bytes(range(256)) * 8          # the file every GET reads: 2048 bytes
METHODS = ['GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE']
HEADER_NAMES = ['Range', 'Last-Modified', 'Content-Type', 'If-Range', 'X-Content-Length',
                'Accept-Encoding']
# Content-Length values that cheroot itself takes as a number, so that they reach the
# archive's handler (what cheroot refuses is the shared framing tests' business).
CONTENT_LENGTHS = st.one_of(st.integers(min_value=0, max_value=10 ** 30).map(str),
                            st.sampled_from(['+3', ' 3 ', '0003', '1_0', '-1', '-0']))


def snapshot(*roots):
    """Every name under the roots with its size and mtime: what a write would change."""
    seen = {}
    for root in roots:
        for parent, dirs, files in os.walk(str(root)):
            for name in dirs + files:
                path = os.path.join(parent, name)
                info = os.lstat(path)
                seen[path] = (info.st_size, info.st_mtime_ns, info.st_mode)
    return seen


def segment():
    """A path segment: hostile text percent-encoded, or pre-encoded traversal verbatim."""
    return st.one_of(HOSTILE['text'].map(pct),
                     st.sampled_from(['..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%2F%2Fx', '..',
                                      '%00', '%ff', 'a%2Fb', 'stored.bin', '1234', '-0',
                                      '-1', '9' * 40, '9' * 41]))


@st.composite
def hostile_request(draw):
    """(method, path, query, headers, body) with hostile values wherever they can go."""
    method = draw(st.sampled_from(METHODS))
    path = draw(st.one_of(st.lists(segment(), min_size=1, max_size=3).map('/'.join),
                          st.sampled_from(['api/ready', 'api/metrics', 'api', 'api/x/y'])))
    params = draw(st.lists(st.tuples(st.sampled_from(['byte_range', 'x']), HOSTILE['text']),
                           max_size=3))
    query = '&'.join('{}={}'.format(name, pct(value)) for name, value in params)
    headers = dict(draw(st.lists(st.tuples(st.sampled_from(HEADER_NAMES), HOSTILE['header']),
                                 max_size=3)))
    if method == 'PATCH':
        headers.setdefault('Content-Type', 'application/json')
        value = draw(st.one_of(HOSTILE['text'], HOSTILE['integers'], st.none()))
        body = json.dumps(draw(st.sampled_from([{'path': value}, {'nopath': value}, [value],
                                                value]))).encode()
    else:
        body = draw(st.binary(max_size=64))
    return method, path, query, headers, body


@pytest.fixture(scope='module', params=['flat', 'id2filename'])
def layouts(request, archive, tmp_path_factory):
    """The archive of this module, and one that maps integer ids to a tree of directories."""
    if request.param == 'flat':
        yield archive
        return
    base = tmp_path_factory.mktemp('id2filename')
    for name in ('root', 'staging'):
        (base / name).mkdir()
    env = service_env(base, 'archiveinterface', PAI_USE_ID2FILENAME='true')
    server = start_service('pacifica.archiveinterface', base, env,
                           ['--prefix', str(base / 'root'), '--staging-root',
                            str(base / 'staging')])
    server.root, server.staging = base / 'root', base / 'staging'
    yield server
    server.stop()


@property_settings(100)
@given(case=hostile_request())
def test_hostile_requests_never_5xx_and_a_refusal_writes_nothing(layouts, case):
    archive = layouts
    method, path, query, headers, body = case
    note(repr(case))
    if not (archive.root / 'stored.bin').exists():
        (archive.root / 'stored.bin').write_bytes(FILE)
    before = snapshot(archive.root, archive.staging)
    url = '{}/{}{}'.format(archive.url, path, '?' + query if query else '')
    resp = requests.request(method, url, headers=headers, data=body, timeout=30)
    if check_answer(resp):
        assert snapshot(archive.root, archive.staging) == before
    if method == 'GET' and resp.status_code in (200, 206) and path.startswith('stored.bin'):
        assert len(resp.content) <= len(FILE)


@property_settings(100)
@given(rng=st.one_of(HOSTILE['header'], st.lists(
    st.tuples(st.integers(-5, 5000), st.integers(-5, 5000)), min_size=1, max_size=300).map(
        lambda pairs: 'bytes=' + ','.join('{}-{}'.format(*p) for p in pairs))),
       byte_range=st.one_of(st.none(), HOSTILE['text'], st.tuples(
           HOSTILE['integers'], HOSTILE['integers']).map('{0[0]}-{0[1]}'.format)))
def test_ranges_are_never_amplified(archive, rng, byte_range):
    """Any Range header (many, overlapping, reversed, huge) and any byte_range: the answer
    is the whole file, one part of it, or an error, never more bytes than the file has."""
    path = archive.root / 'ranged.bin'
    if not path.exists():
        assert requests.put(archive.url + '/ranged.bin', data=FILE, timeout=10).status_code == 201
    query = '?byte_range=' + pct(byte_range) if byte_range is not None else ''
    resp = requests.get(archive.url + '/ranged.bin' + query, headers={'Range': rng}, timeout=30)
    check_answer(resp)
    # 404: CherryPy's answer to a query string that is not UTF-8
    assert resp.status_code in (200, 206, 400, 404, 416), resp.status_code
    if resp.status_code == 206:
        first, last = (int(n) for n in resp.headers['Content-Range'].split()[1]
                       .split('/')[0].split('-'))
        assert resp.content == FILE[first:last + 1]
    elif resp.status_code == 200:
        assert len(resp.content) <= len(FILE)
        assert resp.content == FILE if byte_range is None else FILE.find(resp.content) >= 0


@property_settings(80)
@given(length=CONTENT_LENGTHS, modified=st.one_of(st.none(), HOSTILE['header']),
       fileid=segment(), body=st.binary(max_size=32))
def test_hostile_put_headers_store_all_or_nothing(archive, length, modified, fileid, body):
    """A PUT whose headers lie about the body, or carry a bad date, stores nothing; one that
    is stored holds exactly the body."""
    from support import raw_http  # pylint: disable=import-outside-toplevel
    before = snapshot(archive.root)
    head = 'PUT /{} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\nConnection: close\r\n'.format(
        fileid, length)
    if modified is not None:
        head += 'Last-Modified: {}\r\n'.format(modified)
    answer = raw_http(archive.port, head.encode('latin-1') + b'\r\n' + body, half_close=True)
    status = int(answer[9:12])
    note((status, answer[:300]))
    assert status < 500, answer[:500]
    if status >= 400:
        payload = json.loads(answer.split(b'\r\n\r\n', 1)[1])
        assert payload['traceback'] == '' and payload['message']
        assert snapshot(archive.root) == before
    else:
        assert status == 201
        stored = json.loads(answer.split(b'\r\n\r\n', 1)[1])['total_bytes']
        # exactly Content-Length bytes: anything after them is not part of this request
        assert stored == int(length.replace('_', '')) <= len(body)

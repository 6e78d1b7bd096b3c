"""HTTP framing on every service, over raw sockets: no request smuggling, no desync after an
unread body, JSON for the errors cheroot answers itself, and the body limit answered 413
before the body is read."""
import json

import pytest
import requests
from hypothesis import HealthCheck, example, given, settings, strategies as st

from common.fleet import NAMES
from common.rawhttp import assert_json_error, closes, exchange, responses
from support import assert_json_error as assert_http_error, run_admin, service_env, start_uwsgi

SMUGGLED = b'GET /smuggled-request HTTP/1.1\r\nHost: x\r\n\r\n'
PROBE = b'GET / HTTP/1.1\r\nHost: x\r\n\r\n'


def port(fleet, name):
    return fleet[name].port


def one_answer(fleet, name, data, status):
    """Send ``data``; exactly one response with ``status``, then the connection closes."""
    received, closed = exchange(port(fleet, name), data)
    found = responses(received)
    assert len(found) == 1, found
    assert closed, 'the connection stayed open after: {!r}'.format(found[0][0])
    if status >= 400:
        assert_json_error(found[0], status)
    else:
        assert found[0][0].split(' ')[1] == str(status)
    return found[0]


def assert_not_smuggled(fleet, name):
    """The smuggled request never reached a handler (it would be in the access log)."""
    assert '/smuggled-request' not in fleet[name].output()


@pytest.mark.parametrize('name', NAMES)
def test_content_length_with_transfer_encoding_is_refused(fleet, name):
    body = b'3\r\nabc\r\n0\r\n\r\n' + SMUGGLED
    data = (b'POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n'
            b'Transfer-Encoding: chunked\r\n\r\n' + body)
    doc = one_answer(fleet, name, data, 400)[2]
    assert b'Content-Length and Transfer-Encoding' in doc
    assert_not_smuggled(fleet, name)


@pytest.mark.parametrize('name', NAMES)
def test_differing_content_lengths_are_refused(fleet, name):
    data = (b'PUT /smuggle-target HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n'
            b'Content-Length: 5\r\n\r\nabcde')
    doc = json.loads(one_answer(fleet, name, data, 400)[2])
    assert 'differing Content-Length' in doc['message']


@pytest.mark.parametrize('name', NAMES)
def test_identical_repeated_content_length_is_one_length(fleet, name):
    data = (b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nContent-Length: 2\r\n'
            b'Connection: close\r\n\r\nab')
    one_answer(fleet, name, data, 200)


@pytest.mark.parametrize('name', NAMES)
def test_unread_chunked_body_closes_the_connection(fleet, name):
    """The review's desync: a pipelined request after an unread chunked body."""
    data = (b'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
            b'3\r\nabc\r\n0\r\n\r\n' + SMUGGLED)
    line, headers, body = one_answer(fleet, name, data, 200)
    assert closes(headers) and b'Up and Running' in body
    assert_not_smuggled(fleet, name)


@pytest.mark.parametrize('name', NAMES)
def test_chunked_trailer_cannot_carry_a_request(fleet, name):
    data = (b'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n'
            b'0\r\n' + SMUGGLED)
    one_answer(fleet, name, data, 200)
    assert_not_smuggled(fleet, name)


@pytest.mark.parametrize('name', NAMES)
def test_unread_content_length_body_closes_the_connection(fleet, name):
    """GET / never reads a body: what is left of it is not parsed as the next request."""
    body = SMUGGLED + b'x' * 40
    data = (b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: ' + str(len(body)).encode()
            + b'\r\n\r\n' + body)
    line, headers, _ = one_answer(fleet, name, data, 200)
    assert closes(headers)
    assert_not_smuggled(fleet, name)


@pytest.mark.parametrize('name', NAMES)
def test_well_formed_pipelining_keeps_working(fleet, name):
    data = PROBE + PROBE + b'GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
    received, closed = exchange(port(fleet, name), data)
    found = responses(received)
    assert [answer[0].split(' ')[1] for answer in found] == ['200'] * 3
    assert closed and not closes(found[0][1]) and closes(found[2][1])


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('data, status, words', [
    (b'GARBAGE\r\n\r\n', 400, 'Malformed Request-Line'),
    (b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n', 400, 'Content-Length'),
    (b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc', 400, 'Content-Length'),
    (b'GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n', 400, 'Content-Length'),
    (b'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding : chunked\r\n\r\n0\r\n\r\n', 400,
     'header name'),
    (b'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n', 501,
     'gzip'),
    (b'GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, chunked\r\n\r\n0\r\n\r\n', 400,
     'chunked'),
    (b'GET / HTTP/1.0\r\nConnection: Keep-Alive\r\nTransfer-Encoding: chunked\r\n\r\n'
     b'0\r\n\r\n', 400, 'HTTP/1.0'),
    (b'GET / HTTP/1.1\r\nHost: x\r\nX-A: b\n\r\n', 400, 'CRLF'),
])
def test_cheroots_own_errors_are_json(fleet, name, data, status, words):
    doc = json.loads(one_answer(fleet, name, data + SMUGGLED, status)[2])
    assert words in doc['message']
    assert_not_smuggled(fleet, name)


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('method, path', [
    ('GET', '/no/such/thing/here'),        # CherryPy's own 404 (or the service's 400)
    ('PATCH', '/'),                        # the dispatcher's 405
    ('GET', '/getid?range=abc&mode=x'),    # a ServiceError (uniqueid's 400; 404 elsewhere)
])
def test_error_pages_are_not_padded(fleet, name, method, path):
    """CherryPy pads short error pages to 512 bytes (for old Internet Explorer)."""
    answer = requests.request(method, fleet[name].url + path, timeout=10)
    assert 400 <= answer.status_code < 500, answer.text
    assert answer.content == answer.content.rstrip()
    assert len(answer.content) == int(answer.headers['Content-Length'])
    assert set(json.loads(answer.content)) == {'status', 'message', 'traceback', 'version'}


LIMITS = {'uniqueid': 64 << 10, 'proxy': 64 << 10, 'metadata': 4 << 20, 'cartd': 16 << 20}


@pytest.mark.parametrize('name', sorted(LIMITS))
def test_body_over_the_limit_is_413_before_it_is_read(fleet, name):
    """Only the headers are sent: the 413 cannot have waited for the body."""
    size = LIMITS[name] + 1
    data = ('PUT /keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            'Content-Length: {}\r\n\r\n'.format(size)).encode()
    doc = json.loads(one_answer(fleet, name, data, 413)[2])
    assert str(LIMITS[name]) in doc['message']


def test_ingest_has_its_own_larger_limit(fleet):
    """/ingest documents of many files fit; the default limit does not apply there."""
    size = (4 << 20) + 1
    data = ('PUT /ingest HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            'Content-Length: {}\r\nConnection: close\r\n\r\n'.format(size)).encode()
    received, _ = exchange(port(fleet, 'metadata'), data + b' ' * size, timeout=30)
    line = responses(received)[0][0]
    assert ' 413 ' not in line, line
    over = ('PUT /ingest HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n'.format(
        (64 << 20) + 1)).encode()
    one_answer(fleet, 'metadata', over, 413)


def test_archive_uploads_have_no_limit(fleet):
    data = ('PUT /9000001 HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n'
            'Connection: close\r\n\r\n'.format(5 << 20)).encode()
    received, _ = exchange(port(fleet, 'archiveinterface'), data + b'z' * (5 << 20),
                           timeout=30)
    assert responses(received)[0][0].split(' ')[1] == '201', received[:300]
    assert len(requests.get(fleet['archiveinterface'].url + '/9000001', timeout=10).content) \
        == 5 << 20


def _chunked(doc, size=7):
    return b''.join(b'%x\r\n%s\r\n' % (len(doc[i:i + size]), doc[i:i + size])
                    for i in range(0, len(doc), size)) + b'0\r\n\r\n'


def test_chunked_body_over_the_limit_is_cut_off_with_413(fleet):
    """cartd reads a chunked cart request; past the limit the read stops with 413."""
    chunk = b'x' * 65536
    count = (LIMITS['cartd'] // len(chunk)) + 2
    data = (b'POST /too-big-chunked HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            b'Transfer-Encoding: chunked\r\n\r\n'
            + b'%x\r\n%s\r\n' % (len(chunk), chunk) * count + b'0\r\n\r\n')
    received, closed = exchange(port(fleet, 'cartd'), data, timeout=30)
    found = responses(received)
    assert len(found) == 1 and closed
    assert_json_error(found[0], 413)
    assert requests.head(fleet['cartd'].url + '/too-big-chunked', timeout=10).status_code == 404


def test_well_formed_chunked_bodies_still_work(fleet):
    """A chunked cart request is read through the same framing as a Content-Length one."""
    doc = json.dumps({'fileids': []}).encode()
    data = (b'POST /chunked-cart HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            b'Transfer-Encoding: chunked\r\n\r\n' + _chunked(doc) + PROBE)
    line, headers, _ = one_answer(fleet, 'cartd', data, 201)
    assert closes(headers)
    assert requests.head(fleet['cartd'].url + '/chunked-cart', timeout=10).status_code != 404


def test_metadata_still_wants_a_content_length_as_upstream(fleet):
    """Upstream's JSON tool answers a chunked body 411; the connection does not outlive it."""
    data = (b'PUT /keys HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n'
            b'Transfer-Encoding: chunked\r\n\r\n' + _chunked(b'[]') + SMUGGLED)
    one_answer(fleet, 'metadata', data, 411)
    assert_not_smuggled(fleet, 'metadata')


# -- generated framing headers ----------------------------------------------------------------
LENGTH_VALUES = st.one_of(
    st.integers(min_value=0, max_value=12).map(str),
    st.sampled_from(['+3', '-1', '3_0', '0x3', ' 3', '3 ', '3,3', '3, 4', '', '\u0663',
                     '99999999999999999999', '1e2', '3.0']),
    st.text(alphabet='0123456789 ,+-_xabc\t', max_size=6),
)
CODINGS = st.one_of(
    st.sampled_from(['chunked', 'Chunked', 'CHUNKED', ' chunked', 'chunked ', 'identity',
                     'gzip, chunked', 'chunked, chunked', 'chunked, gzip', '', 'xchunked']),
    st.text(alphabet='chunkedgzip ,', max_size=12),
)
FRAMING = st.lists(st.one_of(st.tuples(st.just('Content-Length'), LENGTH_VALUES),
                             st.tuples(st.just('Transfer-Encoding'), CODINGS)),
                   max_size=3)


def _request(fields, version):
    head = 'POST / {}\r\nHost: x\r\n'.format(version)
    head += ''.join('{}: {}\r\n'.format(name, value) for name, value in fields)
    # Something that is a valid chunked body, and 12 bytes of a Content-Length body, followed
    # by a request that must never run.
    return (head + '\r\n').encode('utf-8') + b'3\r\nabc\r\n0\r\n\r\n' + SMUGGLED


def _must_refuse(fields, version):
    """The framings a server must refuse, by RFC 9112 (an oracle written apart from the code
    under test): both headers, Transfer-Encoding in HTTP/1.0, a length that is not digits,
    differing lengths."""
    lengths = [value for field, value in fields if field == 'Content-Length']
    codings = [value for field, value in fields if field == 'Transfer-Encoding']
    if lengths and codings:
        return True
    if codings and version == 'HTTP/1.0':
        return True
    parts = [part.strip(' \t') for value in lengths for part in value.split(',')]
    if any(not (part.isascii() and part.isdigit()) for part in parts):
        return True
    return len({int(part) for part in parts}) > 1


@pytest.mark.parametrize('name', NAMES)
@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(fields=FRAMING, version=st.sampled_from(['HTTP/1.1', 'HTTP/1.0']))
@example(fields=[('Content-Length', '3'), ('Transfer-Encoding', 'chunked')],
         version='HTTP/1.1')
@example(fields=[('Content-Length', '3'), ('Content-Length', '12')], version='HTTP/1.1')
@example(fields=[('Content-Length', '13')], version='HTTP/1.1')
def test_generated_framing_never_smuggles(fleet, name, fields, version):
    """Whatever the framing headers: an ambiguous framing is refused with the JSON error,
    every answer is well formed, and the request hidden after the body never runs (the
    bytes after a body left unread are never parsed as a request)."""
    received, _ = exchange(port(fleet, name), _request(fields, version))
    found = responses(received)
    assert 1 <= len(found) <= 2, found
    status = int(found[0][0].split(' ')[1])
    if _must_refuse(fields, version):
        assert status == 400 and len(found) == 1, (fields, found)
    for answer in found:
        code = int(answer[0].split(' ')[1])
        assert code < 500 or code == 501, answer
        if code >= 400:
            assert_json_error(answer, code)
    assert_not_smuggled(fleet, name)


def test_wsgi_deployments_get_the_body_limits_too(tmp_path):
    """Under uWSGI (pacifica.<service>.wsgi) the application refuses a body over the limit
    from its Content-Length, and Content-Length with Transfer-Encoding."""
    env = service_env(tmp_path, 'metadata', PEEWEE_URL='sqliteext:///' + str(
        tmp_path / 'db.sqlite3'), METADATA_MAX_REQUEST_BODY='1 Kb', NOTIFICATIONS_DISABLED='1')
    assert run_admin('pacifica.metadata', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    server = start_uwsgi('pacifica.metadata.wsgi', tmp_path, env, processes=1)
    try:
        big = json.dumps([{'_id': 1, 'key': 'x' * 2000}])
        answer = requests.put(server.url + '/keys', data=big, timeout=30,
                              headers={'Content-Type': 'application/json'})
        assert_http_error(answer, 413, '1024')
        assert requests.get(server.url + '/keys?_id=1', timeout=10).json() == []
        small = json.dumps([{'_id': 2, 'key': 'fits'}])
        assert requests.put(server.url + '/keys', data=small, timeout=30,
                            headers={'Content-Type': 'application/json'}).status_code == 200
        ingest = requests.put(server.url + '/ingest', data=' ' * 2000, timeout=30,
                              headers={'Content-Type': 'application/json'})
        assert ingest.status_code == 400, ingest.text    # the ingest limit is 64 Mb
        received, _ = exchange(server.port, b'PUT /keys HTTP/1.1\r\nHost: x\r\n'
                               b'Content-Type: application/json\r\nContent-Length: 2\r\n'
                               b'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n[]')
        assert_json_error(responses(received)[0], 400)
    finally:
        server.stop()

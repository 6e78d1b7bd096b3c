"""Archive PUT and PATCH read exactly the framed body: raw-socket requests against a real
archive interface. A chunked body is refused before any of it is read (the protocol
requires Content-Length), so neither a truncated file nor a request hidden in a body can
come of it; a refused header is answered before the body has arrived."""
import os
import re
import time

import pytest

from support import raw_http

VICTIM = b'must survive'


@pytest.fixture
def victim(archive):
    """A stored file a smuggled request would try to delete."""
    path = archive.root / 'victim.txt'
    if not path.exists():
        answer = raw_http(archive.port, b'PUT /victim.txt HTTP/1.1\r\nHost: x\r\n'
                          b'Content-Length: 12\r\nConnection: close\r\n\r\n' + VICTIM)
        assert answer.startswith(b'HTTP/1.1 201'), answer
    return path


def statuses(answer):
    """The status lines of every response in a raw answer (a body need not end in CRLF)."""
    return re.findall(rb'HTTP/1\.[01] [0-9]{3} [A-Za-z ]*', answer)


def leftovers(root):
    """Anything under the archive root that is not the victim: a stored or temporary file."""
    return sorted(str(p.relative_to(root)) for p in root.rglob('*') if p.name != 'victim.txt')


SMUGGLED = b'DELETE /victim.txt HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n'
BODIES = {
    # what a front proxy framing by Content-Length forwards as one body
    'cl.te': b'0\r\n\r\n' + SMUGGLED,
    # the review's probe: the handler used to read 3 bytes and the rest ran as a request
    'short chunk': b'3\r\nxxx\r\n' + SMUGGLED,
    # cheroot skips one blank line before a request line: unread, this body would run
    'blank line': b'\r\n' + SMUGGLED,
    # a request inside the chunk data
    'inside a chunk': '{:x}\r\n'.format(len(SMUGGLED)).encode() + SMUGGLED + b'\r\n0\r\n\r\n',
}


@pytest.mark.parametrize('method', ['PUT', 'PATCH'])
@pytest.mark.parametrize('with_length', [True, False], ids=['CL+TE', 'TE only'])
@pytest.mark.parametrize('body', list(BODIES), ids=list(BODIES))
def test_chunked_upload_is_refused_and_one_request_runs_one_handler(
        archive, victim, method, with_length, body):
    before = leftovers(archive.root)
    data = BODIES[body]
    head = '{} /smuggle.txt HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n'.format(method)
    if method == 'PATCH':
        head += 'Content-Type: application/json\r\n'
    if with_length:
        head += 'Content-Length: {}\r\n'.format(len(data))
    answer = raw_http(archive.port, head.encode() + b'\r\n' + data, half_close=True)
    lines = statuses(answer)
    assert lines[0] in (b'HTTP/1.1 400 Bad Request', b'HTTP/1.1 411 Length Required'), answer
    # nothing the body held ran as a request of its own
    assert not any(line.startswith(b'HTTP/1.1 2') for line in lines), answer
    assert victim.read_bytes() == VICTIM
    assert leftovers(archive.root) == before


def test_chunked_put_message_names_content_length(archive):
    answer = raw_http(archive.port, b'PUT /chunky.txt HTTP/1.1\r\nHost: x\r\n'
                      b'Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n'
                      b'5\r\nhello\r\n0\r\n\r\n')
    assert answer.startswith(b'HTTP/1.1 411'), answer
    assert b'Content-Length' in answer.split(b'\r\n\r\n', 1)[1]
    assert not (archive.root / 'chunky.txt').exists()


def test_put_reads_exactly_content_length_bytes(archive):
    """The bytes after the body are the next request, answered in turn, not stored."""
    answer = raw_http(archive.port, b'PUT /exact.txt HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Length: 5\r\n\r\nhello'
                      b'GET /exact.txt HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
    assert statuses(answer) == [b'HTTP/1.1 201 Created', b'HTTP/1.1 200 OK'], answer
    assert answer.endswith(b'hello')
    assert (archive.root / 'exact.txt').read_bytes() == b'hello'


@pytest.mark.parametrize('value', ['inf', '-inf', 'nan', '1e20', '-1e20', '-1',
                                   str(2 ** 33), '9' * 400, 'Sun, 06 Nov 99999 08:49:37 GMT'])
def test_bad_last_modified_is_400_before_the_body_is_read(archive, value):
    """Only the headers and a few bytes of a 10 MB upload are sent: the refusal comes
    anyway, so the client does not upload a body that cannot be stored."""
    started = time.monotonic()
    answer = raw_http(archive.port, 'PUT /lm.txt HTTP/1.1\r\nHost: x\r\n'
                      'Content-Length: 10000000\r\nLast-Modified: {}\r\nConnection: close'
                      '\r\n\r\n'.format(value).encode() + b'x' * 100)
    assert answer.startswith(b'HTTP/1.1 400'), answer
    assert b'Last-Modified' in answer and b'1970' in answer
    assert time.monotonic() - started < 5
    assert not (archive.root / 'lm.txt').exists()
    assert not any('lm.txt' in name for name in leftovers(archive.root))


def test_a_stalled_upload_is_a_short_body_and_stores_nothing(tmp_path):
    """A client that stops sending mid-body (past [server] body_timeout) gets the short-body
    400, not a 500, and leaves no temporary file."""
    from support import service_env, start_service  # pylint: disable=import-outside-toplevel
    env = service_env(tmp_path, 'archiveinterface', ARCHIVEINTERFACE_BODY_TIMEOUT='1')
    server = start_service('pacifica.archiveinterface', tmp_path, env,
                           ['--prefix', str(tmp_path / 'root')])
    try:
        # the connection stays open: only the server's timeout ends the upload
        answer = raw_http(server.port, b'PUT /stalled.txt HTTP/1.1\r\nHost: x\r\n'
                          b'Content-Length: 100\r\n\r\n' + b'x' * 10)
        assert answer.startswith(b'HTTP/1.1 400'), answer
        assert b'of the 100 bytes' in answer and b'nothing was stored' in answer
        assert os.listdir(str(tmp_path / 'root')) == []
    finally:
        server.stop()


def test_short_patch_body_moves_nothing(archive):
    source = archive.staging / 'short-patch.dat'
    source.write_bytes(b'stays staged')
    body = '{{"path": "{}"}}'.format(source).encode()
    answer = raw_http(archive.port, b'PATCH /short-patch.dat HTTP/1.1\r\nHost: x\r\n'
                      b'Content-Type: application/json\r\nContent-Length: '
                      + str(len(body) + 50).encode() + b'\r\n\r\n' + body, half_close=True)
    assert answer.startswith(b'HTTP/1.1 400'), answer
    assert b'ended after' in answer
    assert source.read_bytes() == b'stays staged'
    assert not (archive.root / 'short-patch.dat').exists()

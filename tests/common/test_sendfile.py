"""File bodies sent with os.sendfile by the CherryPy server (pacifica.common.sendfile), and
the plain reads that stand in for them everywhere else."""
import os
import sys

import pytest
import requests

from pacifica.common import sendfile
from support import Server, free_port, raw_http

APP = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'sendfile_app.py')
SIZE = 3 * 1024 * 1024 + 17


@pytest.fixture(scope='module')
def served(tmp_path_factory):
    """(server, file bytes, file path): the test app serving regions of one file."""
    tmp = tmp_path_factory.mktemp('sendfile')
    data = os.urandom(SIZE)
    path = tmp / 'data.bin'
    path.write_bytes(data)
    port = free_port()
    server = Server([sys.executable, APP, str(port), str(path)], dict(os.environ), port,
                    str(tmp), ready_path='/region?count=1')
    yield server, data, path
    server.stop()


@pytest.fixture(scope='module')
def served_pacifica(served, tmp_path_factory):
    """(server, file bytes): the same app on the services' own HTTP server."""
    _server, data, path = served
    port = free_port()
    server = Server([sys.executable, APP, str(port), str(path), 'pacifica'], dict(os.environ),
                    port, str(tmp_path_factory.mktemp('sendfile-pacifica')),
                    ready_path='/region?count=1')
    yield server, data
    server.stop()


def test_a_whole_file_goes_out_with_sendfile(served):
    server, data, _path = served
    response = requests.get(server.url + '/region', params={'count': SIZE})
    assert response.headers['X-Sendfile'] == 'True'
    assert response.headers['Content-Length'] == str(SIZE)
    assert response.content == data


@pytest.mark.parametrize('offset,count', [(0, 1), (5, 100), (SIZE - 7, 7), (1 << 20, 1 << 20)])
def test_a_slice(served, offset, count):
    server, data, _path = served
    response = requests.get(server.url + '/region', params={'offset': offset, 'count': count})
    assert response.content == data[offset:offset + count]


def test_an_empty_region_sends_nothing(served):
    server, _data, _path = served
    response = requests.get(server.url + '/region', params={'offset': 10, 'count': 0})
    assert response.status_code == 200 and response.content == b''


@pytest.mark.parametrize('length', ['yes', 'no'])
def test_regions_and_bytes_interleave_in_order(served, length):
    """Bytes written before a region are flushed before it; without a Content-Length the
    regions go out as HTTP/1.1 chunks."""
    server, data, _path = served
    response = requests.get(server.url + '/region', params={
        'offset': 11, 'count': SIZE - 11, 'parts': 3, 'length': length})
    step = (SIZE - 11) // 3
    body = data[11:]
    assert response.content == b'<' + body[:step] + b'|' + body[step:2 * step] + b'|' + \
        body[2 * step:] + b'>'
    if length == 'no':
        assert response.headers['Transfer-Encoding'] == 'chunked'


def test_keep_alive_survives_many_regions(served):
    server, data, _path = served
    with requests.Session() as session:
        for offset in range(0, 20):
            response = session.get(server.url + '/region', params={
                'offset': offset * 1000, 'count': 5000, 'parts': 2})
            assert response.content == (b'<' + data[offset * 1000:offset * 1000 + 2500] + b'|' +
                                        data[offset * 1000 + 2500:offset * 1000 + 5000] + b'>')


def test_a_file_shorter_than_promised_ends_the_connection_short(served):
    """A region past the end of the file (the file shrank): the client gets fewer bytes than
    the Content-Length and the connection is closed, never a complete-looking body."""
    server, data, _path = served
    received = raw_http(server.port, 'GET /region?offset={}&count=4096 HTTP/1.1\r\n'
                        'Host: x\r\n\r\n'.format(SIZE - 100).encode())
    head, _sep, body = received.partition(b'\r\n\r\n')
    assert b'Content-Length: 4096' in head
    assert body == data[SIZE - 100:]
    # The server is fine afterwards.
    assert requests.get(server.url + '/region', params={'count': 10}).content == data[:10]


def test_http_1_0_client(served):
    server, data, _path = served
    received = raw_http(server.port,
                        b'GET /region?offset=1&count=70000&parts=2&length=no HTTP/1.0\r\n\r\n')
    head, _sep, body = received.partition(b'\r\n\r\n')
    assert b'chunked' not in head.lower()
    assert body == b'<' + data[1:35001] + b'|' + data[35001:70001] + b'>'


@pytest.mark.parametrize('size', [sendfile.DIRECT_MIN - 1, sendfile.DIRECT_MIN, 1 << 20])
@pytest.mark.parametrize('length', ['yes', 'no'])
def test_large_byte_chunks_arrive_whole_and_in_order(served, size, length):
    """Blocks from DIRECT_MIN up go straight to the socket, smaller ones (and the ``<`` ``>``
    around them) through cheroot's buffer: the body is the same bytes in the same order,
    with a Content-Length or as HTTP/1.1 chunks, on a kept-alive connection."""
    server, data, _path = served
    body = b'<' + data[:3 * size] + b'>'
    params = {'size': size, 'count': 3, 'length': str(len(body)) if length == 'yes' else ''}
    with requests.Session() as session:
        for _ in range(2):
            response = session.get(server.url + '/blocks', params=params)
            assert response.content == body
            assert ('Transfer-Encoding' in response.headers) == (length == 'no')


def test_large_chunks_past_the_content_length_are_cut(served_pacifica):
    """A body longer than its Content-Length: the client gets exactly the declared bytes and
    the connection is closed, as for small chunks (the services' server)."""
    server, data = served_pacifica
    size = sendfile.DIRECT_MIN * 2
    declared = 1 + size + size // 2
    received = raw_http(server.port, 'GET /blocks?size={}&count=3&length={} HTTP/1.1\r\n'
                        'Host: x\r\n\r\n'.format(size, declared).encode())
    head, _sep, body = received.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200') and b'Content-Length: %d' % declared in head
    assert body == (b'<' + data[:3 * size])[:declared]
    # No Content-Length on the services' server: chunked, large blocks included.
    response = requests.get(server.url + '/blocks', params={'size': size, 'count': 2})
    assert response.content == b'<' + data[:2 * size] + b'>'
    assert response.headers['Transfer-Encoding'] == 'chunked'


def test_outside_a_sendfile_server_the_bytes_are_read(tmp_path):
    """No request served by the sendfile gateway (here: none at all): file_chunks reads."""
    path = tmp_path / 'f'
    data = os.urandom(300000)
    path.write_bytes(data)
    assert not sendfile.available()
    with open(path, 'rb') as handle:
        chunks = list(sendfile.file_chunks(handle, 7, 250000, block=65536))
    assert not any(isinstance(chunk, sendfile.FileRegion) for chunk in chunks)
    assert [len(chunk) for chunk in chunks] == [65536] * 3 + [250000 - 3 * 65536]
    assert b''.join(chunks) == data[7:250007]


def test_a_short_file_read_without_sendfile_raises(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(b'12345')
    with open(path, 'rb') as handle:
        with pytest.raises(OSError, match='shrank'):
            list(sendfile.FileRegion(handle, 2, 10).read_blocks())


def test_file_body_closes_its_file(tmp_path):
    path = tmp_path / 'f'
    path.write_bytes(b'abcdef')
    handle = open(path, 'rb')  # pylint: disable=consider-using-with
    body = sendfile.file_body(handle, 1, 3)
    assert next(body) == b'bcd'
    body.close()
    assert handle.closed

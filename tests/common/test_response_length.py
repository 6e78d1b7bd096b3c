"""A response body that does not match its own Content-Length can never put bytes on a
connection that a client would read as another response (response splitting), nor leave a
kept-alive connection out of step.

The app below runs under the services' server (pacifica.common.httpserver, with the sendfile
gateway, as cli.py builds it), in its own process: ``python test_response_length.py PORT``.
Its handlers declare ``Content-Length: 5`` and send other amounts; the tests talk to it over
raw sockets.
"""
import os
import sys

import cherrypy
import pytest

from common.rawhttp import assert_json_error, exchange, responses
from support import Server, free_port

# What a handler's first chunk carries after its five declared bytes: a whole forged
# response, which a client would read as the answer to its next request.
FORGED = b'HTTP/1.1 200 OK\r\nContent-Length: 6\r\nX-Forged: yes\r\n\r\nforged'
SECOND = b'GET /ok HTTP/1.1\r\nHost: x\r\n\r\n'
TESTS = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class Root:
    """``/ok`` (a plain answer) and ``/declared5?kind=`` (a body that says 5 bytes)."""

    @cherrypy.expose
    def ok(self):
        """A normal answer, to show what a pipelined request gets."""
        return b'fine'

    @cherrypy.expose
    def declared5(self, kind='long', stream='yes'):
        """``Content-Length: 5`` and a body of: ``long`` 5 bytes plus a forged response in
        one chunk; ``late`` 3 bytes, then 4 more (past the length) in a second chunk;
        ``short`` 3 bytes; ``exact`` 5 bytes in two chunks."""
        cherrypy.response.headers['Content-Length'] = '5'
        chunks = {'long': [b'12345' + FORGED], 'late': [b'123', b'4567'],
                  'short': [b'123'], 'exact': [b'12', b'345']}[kind]
        if stream == 'yes':
            return iter(chunks)
        return b''.join(chunks)

    declared5._cp_config = {'response.stream': True}


def main():
    """Serve :class:`Root` on 127.0.0.1:PORT under the services' server."""
    from pacifica.common import httpserver, sendfile  # pylint: disable=import-outside-toplevel
    cherrypy.config.update({'server.socket_host': '127.0.0.1',
                            'server.socket_port': int(sys.argv[1]),
                            'engine.autoreload.on': False, 'log.screen': True})
    cherrypy.tree.mount(Root(), '/')
    sendfile.install(httpserver.PacificaServer)
    cherrypy.engine.signal_handler.subscribe()
    cherrypy.engine.start()
    cherrypy.engine.block()


@pytest.fixture(scope='module')
def app(tmp_path_factory):
    """The app above, started in its own process."""
    tmp = tmp_path_factory.mktemp('response_length')
    port = free_port()
    env = dict(os.environ)   # the script imports this module's imports: tests/ on the path
    env['PYTHONPATH'] = os.pathsep.join(filter(None, (TESTS, env.get('PYTHONPATH'))))
    server = Server([sys.executable, os.path.abspath(__file__), str(port)], env, port,
                    str(tmp), ready_path='/ok')
    yield server
    server.stop()


def get(path):
    return 'GET {} HTTP/1.1\r\nHost: x\r\n\r\n'.format(path).encode('ascii')


@pytest.mark.parametrize('stream', ['yes', 'no'])
def test_a_first_chunk_longer_than_the_content_length_is_a_500_and_nothing_else(app, stream):
    """The reviewer's case: cheroot answered 500, then sent the handler's headers and the
    whole chunk on the same connection, so the forged response would be read as the answer
    to the pipelined request. Now: the 500 alone, then the connection closes."""
    received, closed = exchange(app.port, get('/declared5?kind=long&stream=' + stream) +
                                SECOND)
    assert b'forged' not in received and b'X-Forged' not in received, received
    found = responses(received)
    assert len(found) == 1, received
    assert_json_error(found[0], 500)
    assert closed


def test_a_later_chunk_past_the_content_length_is_cut_at_it(app):
    """Once the headers are out, the body stops at the declared length and the connection
    closes: the client has what it was told it would get, and nothing more."""
    received, closed = exchange(app.port, get('/declared5?kind=late') + SECOND)
    found = responses(received)
    assert [(status, body) for status, _headers, body in found] == [('HTTP/1.1 200 OK',
                                                                     b'12345')], received
    assert closed


def test_a_body_shorter_than_its_content_length_ends_the_connection(app):
    """A short body cannot be completed: the connection closes after it rather than let
    the next response be read as the rest of this one."""
    received, closed = exchange(app.port, get('/declared5?kind=short') + SECOND)
    head, _sep, body = received.partition(b'\r\n\r\n')
    assert head.startswith(b'HTTP/1.1 200 OK') and body == b'123', received
    assert closed


def test_a_body_of_exactly_its_content_length_keeps_the_connection(app):
    """The normal case is unchanged: the pipelined request is answered on the same
    connection."""
    received, _closed = exchange(app.port, get('/declared5?kind=exact') + SECOND, timeout=1.0)
    found = responses(received)
    assert [(status, body) for status, _headers, body in found] == [
        ('HTTP/1.1 200 OK', b'12345'), ('HTTP/1.1 200 OK', b'fine')], received


if __name__ == '__main__':
    main()

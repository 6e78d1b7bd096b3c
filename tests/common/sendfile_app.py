"""A tiny CherryPy app serving file regions, for test_sendfile (run as a script):
``python sendfile_app.py PORT FILE [pacifica]`` (``pacifica``: on the services' own HTTP
server, :class:`pacifica.common.httpserver.PacificaServer`, instead of CherryPy's)."""
import sys

import cherrypy

from pacifica.common import httpserver, sendfile


class Root:
    """``/region?offset=&count=&length=&parts=``"""

    def __init__(self, path):
        self.path = path

    @cherrypy.expose
    def region(self, offset='0', count='0', length='yes', parts='1'):
        """``count`` bytes from ``offset``, in ``parts`` regions separated by ``|`` (and
        framed by ``<`` ``>`` when parts > 1); Content-Length unless ``length=no``."""
        offset, count, parts = int(offset), int(count), int(parts)
        handle = open(self.path, 'rb')  # pylint: disable=consider-using-with
        response = cherrypy.response
        response.headers['X-Sendfile'] = str(sendfile.available())
        if parts == 1:
            if length == 'yes':
                response.headers['Content-Length'] = str(count)
            return sendfile.file_body(handle, offset, count)
        step = count // parts
        spans = [(offset + n * step, step if n < parts - 1 else count - n * step)
                 for n in range(parts)]
        pieces = [sendfile.file_chunks(handle, start, size) for start, size in spans]
        if length == 'yes':
            response.headers['Content-Length'] = str(count + parts + 1)

        def body():
            try:
                yield b'<'
                for n, piece in enumerate(pieces):
                    if n:
                        yield b'|'
                    yield from piece
                yield b'>'
            finally:
                handle.close()
        return body()

    region._cp_config = {'response.stream': True}

    @cherrypy.expose
    def blocks(self, size='0', count='0', length=''):
        """``b'<'``, then ``count`` byte blocks of ``size`` from the start of the file (large
        ones skip cheroot's write buffer), then ``b'>'``; Content-Length ``length`` when
        given (it may be shorter than the body), else chunked."""
        size, count = int(size), int(count)
        with open(self.path, 'rb') as handle:
            blocks = [handle.read(size) for _ in range(count)]
        if length:
            cherrypy.response.headers['Content-Length'] = length

        def body():
            yield b'<'
            yield from blocks
            yield b'>'
        return body()

    blocks._cp_config = {'response.stream': True}


def main():
    port, path = int(sys.argv[1]), sys.argv[2]
    cherrypy.config.update({'server.socket_host': '127.0.0.1', 'server.socket_port': port,
                            'engine.autoreload.on': False, 'log.screen': False})
    cherrypy.tree.mount(Root(path), '/')
    sendfile.install(httpserver.PacificaServer if sys.argv[3:] == ['pacifica'] else None)
    cherrypy.engine.signal_handler.subscribe()
    cherrypy.engine.start()
    cherrypy.engine.block()


if __name__ == '__main__':
    main()

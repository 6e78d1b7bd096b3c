"""Zero-copy file bodies for the CherryPy server (``os.sendfile``).

A handler that streams a file yields :class:`FileRegion` chunks instead of the file's bytes
when :func:`available` says the server in front of it can send them: the server then hands
the region to the kernel with ``sendfile`` and the bytes never enter Python. Everywhere else
(uWSGI, a TLS socket, a test client) :func:`available` is false and the handler reads and
yields bytes as before, so a region never reaches a server that would send its placeholder.

The server side is :class:`SendfileGateway`, cheroot's WSGI 1.0 gateway with one more kind
of chunk; :func:`install` puts it into CherryPy's HTTP server before the engine starts.
"""
import functools
import os
import socket

ENVIRON_KEY = 'pacifica.sendfile'
READ_BLOCK = 1 << 20


class FileRegion(bytes):
    """"Send ``count`` bytes of the open file ``handle`` from ``offset``."

    A one-byte ``bytes`` so that it passes the bytes checks and empty-chunk filters of the
    WSGI layers between the handler and the gateway; its content is never sent.
    """

    def __new__(cls, handle, offset, count):
        region = super().__new__(cls, b'\0')
        region.handle, region.offset, region.count = handle, offset, count
        return region

    def read_blocks(self, block=READ_BLOCK):
        """The region's bytes, read in ``block`` pieces (for a server without sendfile)."""
        self.handle.seek(self.offset)
        remaining = self.count
        while remaining > 0:
            data = self.handle.read(min(block, remaining))
            if not data:
                raise _shrank(self.handle)
            remaining -= len(data)
            yield data


def _shrank(handle):
    return OSError('file {!r} shrank while being sent'.format(getattr(handle, 'name', '?')))


def available():
    """True inside a CherryPy request served by :class:`SendfileGateway` on a plain socket."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    environ = getattr(cherrypy.serving.request, 'wsgi_environ', None) or {}
    return bool(environ.get(ENVIRON_KEY))


def file_chunks(handle, offset, count, block=READ_BLOCK):
    """The body for ``count`` bytes of ``handle`` from ``offset``: one region when the server
    can send it, else the bytes in ``block`` pieces. Call it in the handler (it asks the
    current request); the caller closes ``handle`` when the body is done."""
    if count <= 0:
        return iter(())
    region = FileRegion(handle, offset, count)
    if available():
        return iter((region,))
    return region.read_blocks(block)


def file_body(handle, offset, count, block=READ_BLOCK):
    """:func:`file_chunks` of a response body that owns ``handle``: the file is closed when
    the response ends, also when the client goes away mid-body."""
    chunks = file_chunks(handle, offset, count, block)   # asked now, in the handler

    def body():
        try:
            yield from chunks
        finally:
            handle.close()
    return body()


@functools.lru_cache(maxsize=None)
def _gateway_class():
    from cheroot import wsgi  # pylint: disable=import-outside-toplevel

    class SendfileGateway(wsgi.Gateway_10):
        """cheroot's WSGI 1.0 gateway that sends :class:`FileRegion` chunks with sendfile."""

        def get_environ(self):
            environ = super().get_environ()
            # Only a plain TCP/Unix socket: a TLS socket has to encrypt in user space.
            if type(self.req.conn.socket) is socket.socket:  # pylint: disable=unidiomatic-typecheck
                environ[ENVIRON_KEY] = True
            return environ

        sent = 0   # body bytes written so far (cheroot does not keep this count)

        def write(self, chunk):
            if isinstance(chunk, FileRegion):
                self._send_region(chunk)
                self.sent += chunk.count
            else:
                super().write(chunk)
                self.sent += len(chunk)
            if self.sent == self.remaining_bytes_out:
                # The body is complete: send what is buffered now, not after the response
                # is closed (the handler's clean-up, the access log), so the client is done.
                self.req.conn.wfile.flush()

        def _send_region(self, region):
            if not self.started_response:
                raise RuntimeError('WSGI write called before start_response.')
            count = region.count
            length = self.remaining_bytes_out   # the Content-Length (cheroot never lowers it)
            if length is not None and self.sent + count > length:
                raise ValueError('Response body exceeds the declared Content-Length.')
            req = self.req
            req.ensure_headers_sent()
            wfile = req.conn.wfile
            if req.chunked_write:
                wfile.write('{:x}\r\n'.format(count).encode('ascii'))
            wfile.flush()
            sent = req.conn.socket.sendfile(region.handle, region.offset, count)
            wfile.bytes_written += sent
            if sent != count:
                # The file shrank: the body cannot be completed, so the connection must end
                # short of its Content-Length rather than carry on out of step.
                raise _shrank(region.handle)
            if req.chunked_write:
                wfile.write(b'\r\n')

    return SendfileGateway


def install(factory=None):
    """Make CherryPy's HTTP server (built from the current ``server.*`` config, by
    ``factory(cherrypy.server)`` when given) send :class:`FileRegion` chunks with sendfile.
    Call after the config is final, before the engine starts."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    from cheroot import wsgi  # pylint: disable=import-outside-toplevel
    from cherrypy import _cpwsgi_server  # pylint: disable=import-outside-toplevel

    server = cherrypy.server
    if server.httpserver is not None or server.instance is not None:
        return
    httpserver = (factory or _cpwsgi_server.CPWSGIServer)(server)
    if hasattr(os, 'sendfile') and httpserver.gateway is wsgi.Gateway_10:
        httpserver.gateway = _gateway_class()
    server.httpserver = httpserver

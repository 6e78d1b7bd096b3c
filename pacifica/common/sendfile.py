"""Zero-copy file bodies for the CherryPy server (``os.sendfile``).

A handler that streams a file yields :class:`FileRegion` chunks instead of the file's bytes
when :func:`available` says the server in front of it can send them: the server then hands
the region to the kernel with ``sendfile`` and the bytes never enter Python. Everywhere else
(uWSGI, a TLS socket, a test client) :func:`available` is false and the handler reads and
yields bytes as before, so a region never reaches a server that would send its placeholder.

The server side is :class:`SendfileGateway`, cheroot's WSGI 1.0 gateway with one more kind
of chunk; :func:`install` puts it into CherryPy's HTTP server before the engine starts. The
same gateway writes a large ``bytes`` chunk (a block streamed from a peer, as the proxy does)
straight to the socket: cheroot's own writer copies every chunk into its buffer, copies the
buffer again for each ``send`` and once more to drop what was sent, which for 1 MiB blocks
cost more CPU than the send itself. A producer that receives into buffers of its own and
reuses them (the proxy) yields :class:`BufferChunk` placeholders instead of copying each
block into a new ``bytes``: the gateway sends the buffer's bytes before its ``write``
returns, so the producer may overwrite the buffer as soon as it is resumed.
"""
import functools
import os
import socket

ENVIRON_KEY = 'pacifica.sendfile'
READ_BLOCK = 1 << 20
# Chunks this large skip cheroot's write buffer; smaller ones (headers, JSON) keep it.
DIRECT_MIN = 64 * 1024


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


class BufferChunk(bytes):
    """"Send the bytes ``view`` holds now": ``view`` may be overwritten once the server has
    taken the chunk (the next step of the body iterator). Only for a server that
    :func:`available` says takes them; its content, like a region's, is never sent."""

    def __new__(cls, view):
        chunk = super().__new__(cls, b'\0')
        chunk.view = view
        return chunk


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


def _send_all(sock, data):
    """``sock.sendall(data)``, but with the socket's timeout on each ``send`` (as cheroot's
    writer has it) rather than on the whole chunk, so a slow client that keeps reading is
    not cut off."""
    view = memoryview(data)
    while view:
        view = view[sock.send(view):]


@functools.lru_cache(maxsize=None)
def _gateway_class():
    from cheroot import wsgi  # pylint: disable=import-outside-toplevel

    class SendfileGateway(wsgi.Gateway_10):
        """cheroot's WSGI 1.0 gateway that sends :class:`FileRegion` chunks with sendfile."""

        plain = False   # a plain TCP/Unix socket (a TLS one has to encrypt in user space)
        sent = 0        # body bytes written so far (cheroot does not keep this count)

        def get_environ(self):
            environ = super().get_environ()
            self.plain = type(self.req.conn.socket) is socket.socket  # pylint: disable=unidiomatic-typecheck
            if self.plain:
                environ[ENVIRON_KEY] = True
            return environ

        def write(self, chunk):
            if isinstance(chunk, FileRegion):
                self._send_region(chunk)
                self.sent += chunk.count
            else:
                if isinstance(chunk, BufferChunk):
                    chunk = chunk.view   # sent (or copied into cheroot's buffer) right here
                if not (len(chunk) >= DIRECT_MIN and self.plain and self._send_direct(chunk)):
                    super().write(bytes(chunk))
                self.sent += len(chunk)
            if self.sent == self.remaining_bytes_out:
                # The body is complete: send what is buffered now, not after the response
                # is closed (the handler's clean-up, the access log), so the client is done.
                self.req.conn.wfile.flush()

        def _send_direct(self, chunk):
            """Send ``chunk`` with the socket's own ``send``; False (nothing sent) when it
            is not a plain body chunk, so that cheroot's path gives its usual answer (a
            500 before the headers, a cut body, nothing after a simple answer)."""
            if not self.started_response:
                return False
            req = self.req
            length = self.remaining_bytes_out   # the Content-Length (cheroot never lowers it)
            if length is not None and self.sent + len(chunk) > length:
                return False
            req.ensure_headers_sent()
            # The request class of pacifica.common.httpserver keeps its own allowance (none
            # for HEAD, 204, 304) and may have answered already: its write() handles those.
            allowed = getattr(req, 'body_allowed', None)
            if getattr(req, 'answered_simply', False) or (
                    allowed is not None and self.sent + len(chunk) > allowed):
                return False
            wfile = req.conn.wfile
            if req.chunked_write:
                wfile.write('{:x}\r\n'.format(len(chunk)).encode('ascii'))
            wfile.flush()
            _send_all(req.conn.socket, chunk)
            wfile.bytes_written += len(chunk)
            if req.chunked_write:
                wfile.write(b'\r\n')
            return True

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

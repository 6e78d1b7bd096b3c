"""The HTTP server every service runs under its CLI: cheroot, as CherryPy builds it, with the
framing, size and timing rules of the common ``[server]`` section.

* **Framing** (request smuggling, connection desync): a request with both ``Content-Length``
  and ``Transfer-Encoding``, with differing or malformed ``Content-Length`` values, with a
  ``Transfer-Encoding`` in HTTP/1.0, or with a header name that has white space before its
  colon is a 400. After the response to a request whose body was not read to its end (and
  after any chunked request), the connection is closed, so unread body bytes can never be
  parsed as the next request.
* **Bounded bodies**: ``Content-Length`` over the limit of the request's path is answered 413
  before a byte of the body is read; a chunked body is cut off with 413 at the limit.
* **Slow clients**: cheroot reads a request's headers in a worker thread, so a dozen sockets
  that trickle header lines used to hold every thread. Here a worker only takes what the
  socket already holds, without waiting; until the header block is complete the connection
  goes back to cheroot's selector, and a request whose headers take longer than
  ``header_timeout`` gets a 408. Body reads and response writes wait at most
  ``body_timeout`` seconds for each step.
* **Kept-alive clients**: after a response a worker waits up to ``NEXT_REQUEST_WAIT`` for
  the same client's next request when no other connection is queued, instead of handing
  the connection back through the selector thread at once.
* **Errors cheroot answers itself** (malformed request line, bad Content-Length, 408, 413,
  500) carry the same JSON body as every other error of the services.

This leans on cheroot internals, listed here so an upgrade knows where to look: the
``HTTPConnection``/``HTTPRequest`` classes and their ``communicate``, ``read_request_headers``
(through ``header_reader``), ``respond``, ``send_headers`` and ``simple_response``;
``makefile.StreamReader`` being ``_pyio.BufferedReader`` (its ``_read_buf``/``_read_pos``);
``ConnectionManager.put`` asking ``rfile.has_data()``.
"""
import json
import re
import select
import socket
import threading
import time

import cherrypy
from cheroot import makefile
from cheroot import server as cheroot_server
from cherrypy import _cpwsgi_server

from . import errors

HEADER_END = b'\r\n\r\n'
_DIGITS = re.compile(rb'[0-9]{1,18}')   # 1*DIGIT, and small enough for any int column
_TOKEN = re.compile(rb"[!#$%&'*+.^_`|~0-9A-Za-z-]+")

# After a response that leaves request bytes unread, keep reading (and dropping) them for a
# moment before closing: closing a socket with unread input makes the kernel send a reset,
# which can destroy the response before the client has read it.
LINGER_SECONDS = 1.0
LINGER_BYTES = 1 << 20
# The most sockets one process lingers over at once; past it a socket is closed at once (its
# answer may then be lost to a reset), so that a client provoking errors quickly cannot make
# the process hold a descriptor per error for a second each.
LINGER_MAX_SOCKETS = 256

# How long a worker waits for a kept-alive client's next request before handing the
# connection back to the selector (see PacificaConnection.communicate).
NEXT_REQUEST_WAIT = 0.002

# The listen backlog every service asks for (see listen_backlog).
LISTEN_BACKLOG = 1024


class Answer(str):
    """A message that carries the status cheroot must answer with (cheroot itself turns
    every ``ValueError`` from the header reader into a 400)."""

    def __new__(cls, status, message):
        obj = super().__new__(cls, message)
        obj.status = status
        return obj


def framing_problem(headers, lengths, http11):
    """Why a request's framing headers are refused, as an :class:`Answer`, or None.

    ``headers`` maps header names (title case, as cheroot keeps them) to values, ``lengths``
    is every raw ``Content-Length`` value the request carried, and ``http11`` says whether the
    request speaks HTTP/1.1 (the only version where ``Transfer-Encoding`` means anything).
    """
    coding = headers.get(b'Transfer-Encoding')
    if coding is not None:
        if lengths:
            return Answer('400 Bad Request', 'a request may not carry both Content-Length '
                                             'and Transfer-Encoding')
        if not http11:
            return Answer('400 Bad Request',
                          'Transfer-Encoding is not allowed in an HTTP/1.0 request')
        codings = [part.strip().lower() for part in coding.split(b',')]
        unknown = [c for c in codings if c != b'chunked']
        if unknown:
            return Answer('501 Not Implemented', 'Transfer-Encoding {!r} is not supported; '
                                                 'send the body chunked or with a '
                                                 'Content-Length'.format(_text(unknown[0])))
        if len(codings) != 1:
            return Answer('400 Bad Request', 'Transfer-Encoding names chunked more than once')
    values = set()
    for raw in lengths:
        for part in raw.split(b','):
            part = part.strip(b' \t')
            if not _DIGITS.fullmatch(part):
                return Answer('400 Bad Request',
                              'Malformed Content-Length Header: {!r}'.format(_text(raw)))
            values.add(int(part))
    if len(values) > 1:
        return Answer('400 Bad Request', 'the request carries differing Content-Length '
                                         'values: {}'.format(', '.join(map(str, sorted(values)))))
    return None


def _text(raw, limit=64):
    text = raw.decode('latin-1') if isinstance(raw, bytes) else str(raw)
    return text if len(text) <= limit else text[:limit] + '...'


def error_body(status, message):
    """The JSON error document, the same shape :func:`pacifica.common.rest.error_page` gives."""
    return json.dumps({'status': status, 'message': message, 'traceback': '',
                       'version': cherrypy.__version__}).encode('utf-8')


class _RecordingHeaders(dict):
    """A header dict that remembers every value a non-joined header was given.

    cheroot keeps only the last of two ``Content-Length`` lines (and folds continuation lines
    into the value); the framing check needs to see all of them.
    """

    def __init__(self):
        super().__init__()
        self.lengths = []

    def __setitem__(self, key, value):
        if key == b'Content-Length':
            self.lengths.append(value)
        super().__setitem__(key, value)


class _StrictHeaderReader(cheroot_server.HeaderReader):
    """cheroot's header reader, refusing names that are not HTTP tokens.

    cheroot strips ``"Transfer-Encoding : chunked"`` to a valid header that a front proxy may
    ignore; RFC 9112 requires a 400 for white space before the colon.
    """

    def _transform_key(self, key_name):
        if not _TOKEN.fullmatch(key_name):
            raise ValueError('Illegal header name {!r}'.format(_text(key_name)))
        return super()._transform_key(key_name)


_HEADER_READER = _StrictHeaderReader()


class _Patient:
    """A body reader whose read that waited ``body_timeout`` in vain says so with
    :class:`~pacifica.common.errors.BodyTimeout`: a 408 for the client, where a bare
    ``socket.timeout`` escaping the handler was a 500."""

    def read(self, *args, **kwargs):
        """Read, or 408."""
        try:
            return super().read(*args, **kwargs)
        except socket.timeout:
            raise errors.BodyTimeout('the request body stopped arriving') from None

    def readline(self, *args, **kwargs):
        """Read a line, or 408."""
        try:
            return super().readline(*args, **kwargs)
        except socket.timeout:
            raise errors.BodyTimeout('the request body stopped arriving') from None


class _LengthBody(_Patient, cheroot_server.KnownLengthRFile):
    """cheroot's Content-Length body reader, with the 408."""


class _ChunkedBody(_Patient, cheroot_server.ChunkedRFile):
    """cheroot's chunked body reader with the 408, and over its limit always with
    ``MaxSizeExceeded`` (which CherryPy answers 413): a chunk whose announced size crosses
    the limit raised a plain ``IOError`` there, a 500."""

    def _fetch(self):
        try:
            super()._fetch()
        except OSError as exc:
            if exc.args != ('Request Entity Too Large',):
                raise
            raise cheroot_server.errors.MaxSizeExceeded('Request Entity Too Large',
                                                        self.maxlen) from None


class PacificaRequest(_cpwsgi_server.CPWSGIHTTPRequest):
    """One request: the framing checks, the per-path body limit and JSON for cheroot's own
    error answers."""

    def __init__(self, server, conn):
        super().__init__(server, conn)
        self.header_reader = self._read_headers
        self.body_limit = 0
        self.answered_simply = False   # simple_response wrote the whole answer
        self.body_allowed = None       # body bytes the sent headers allow (None: no limit)
        self.body_expected = None      # body bytes the sent headers promise
        self._body_start = 0

    def _read_headers(self, rfile, hdict):
        seen = _RecordingHeaders()
        _HEADER_READER(rfile, seen)
        hdict.update(seen)
        problem = framing_problem(seen, seen.lengths,
                                  self.response_protocol == 'HTTP/1.1')
        if problem is not None:
            raise ValueError(problem)
        self.body_limit = self.server.body_limit(getattr(self, 'path', b''))
        length = int(seen.lengths[0].split(b',')[0]) if seen.lengths else 0
        if self.body_limit and length > self.body_limit:
            raise ValueError(Answer('413 Request Entity Too Large',
                                    'the request body is {} bytes; the limit for this path '
                                    'is {} bytes'.format(length, self.body_limit)))
        return hdict

    def respond(self):
        """Frame the body with this path's limit, then run the application."""
        if self.chunked_read:
            self.rfile = _ChunkedBody(self.conn.rfile, self.body_limit)
        else:
            length = int(self.inheaders.get(b'Content-Length', b'0').split(b',')[0])
            self.rfile = _LengthBody(self.conn.rfile, length)
        self.server.gateway(self).respond()
        if self.ready:
            self.ensure_headers_sent()
        if self.chunked_write:
            self.conn.wfile.write(b'0\r\n\r\n')
        _release(self.conn.wfile)   # the headers of a response without a body
        if self.body_expected is not None and self.body_written() < self.body_expected:
            # The body ended short of its Content-Length: the client waits for the rest,
            # and would take the next response's bytes for it.
            self.close_connection = True

    def body_read_to_end(self):
        """Whether nothing of this request's body is left on the connection.

        A chunked body never counts as read to its end: cheroot stops at the last chunk and
        leaves the trailer section, which it would then parse as the next request.
        """
        if self.chunked_read:
            return False
        return getattr(self.rfile, 'remaining', 0) <= 0

    def send_headers(self):
        """Close the connection after this response unless the body was read to its end
        (cheroot would keep it open after a chunked body, or read what is left of a
        Content-Length body at the client's pace)."""
        if not self.body_read_to_end():
            self.close_connection = True
            self.conn.drain_before_close = True
        wfile = self.conn.wfile
        if isinstance(wfile, _HoldingWriter):
            wfile.holding = True     # out with the first body bytes (see respond)
            try:
                super().send_headers()
            finally:
                wfile.holding = False
        else:
            super().send_headers()
        self._body_start = _written(wfile)
        if self.chunked_write:
            return
        declared = _declared_length(self.outheaders)
        if self.method == b'HEAD' or self.status[:1] == b'1' or \
                self.status[:3] in (b'204', b'304'):
            self.body_allowed = 0
        else:
            self.body_allowed = self.body_expected = declared

    def body_written(self):
        """The body bytes written so far (with sendfile regions, which pass by
        :meth:`write`)."""
        return _written(self.conn.wfile) - self._body_start

    def write(self, chunk):
        """Write body bytes, never past what the headers declared.

        cheroot's gateway checks a chunk against the Content-Length only while nothing is
        sent: a first chunk that is too long got a 500, then the handler's headers and the
        whole chunk went out after it on the same connection (bytes the client would read as
        the next response); a later chunk was not checked at all. Here nothing follows a
        simple response, and a body is cut at its length and the connection closed.
        """
        if self.answered_simply:
            return
        allowed = self.body_allowed
        if allowed is not None and len(chunk) > allowed - self.body_written():
            self.close_connection = True
            room = max(allowed - self.body_written(), 0)
            if room:
                super().write(chunk[:room])
            raise ValueError('Response body exceeds the declared Content-Length.')
        super().write(chunk)

    def simple_response(self, status, msg=''):
        """Answer with the JSON error document and close the connection: the whole answer,
        so nothing (not the handler's headers, not its body) is written after it, and
        nothing at all when another answer has begun."""
        self.close_connection = True
        if self.sent_headers or self.answered_simply:
            return
        self.sent_headers = self.answered_simply = True
        if isinstance(msg, Answer):
            status = msg.status
        status = str(status)
        if isinstance(msg, bytes):
            msg = msg.decode('latin-1')
        body = error_body(status, str(msg or status[4:]))
        head = ['{} {}'.format(self.server.protocol, status),
                'Content-Length: {}'.format(len(body)),
                'Content-Type: application/json',
                'Connection: close']
        self.conn.drain_before_close = True
        data = ('\r\n'.join(head) + '\r\n\r\n').encode('latin-1')
        if getattr(self, 'method', None) != b'HEAD':
            data += body
        try:
            self.conn.wfile.write(data)
        except OSError as exc:
            if exc.args[0] not in cheroot_server.errors.socket_errors_to_ignore:
                raise


def _release(wfile):
    if isinstance(wfile, _HoldingWriter):
        wfile.release()


def _written(wfile):
    return getattr(wfile, 'bytes_written', 0)


def _declared_length(headers):
    """The response's Content-Length from cheroot's ``outheaders``, or None."""
    for name, value in headers:
        if name.lower() == b'content-length':
            value = value.strip()
            return int(value) if _DIGITS.fullmatch(value) else None
    return None


class _HeaderGatheringReader(makefile.StreamReader):
    """cheroot's socket reader with a way to take what has arrived without waiting."""

    def __init__(self, sock, mode='rb', bufsize=makefile.io.DEFAULT_BUFFER_SIZE):
        super().__init__(sock, mode, bufsize)
        self._sock = sock
        self.header_limit = 0

    def pending(self):
        """The bytes received but not yet consumed."""
        return self._read_buf[self._read_pos:]

    def fill_now(self, size=65536):
        """Append what the socket holds right now: the byte count, 0 at end of stream, or
        None when nothing has arrived."""
        timeout = self._sock.gettimeout()
        self._sock.settimeout(0.0)
        try:
            data = self._sock.recv(size)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError:
            return 0   # reset or broken: the same as the client having gone
        finally:
            self._sock.settimeout(timeout)
        if data:
            with self._read_lock:
                self._read_buf = self._read_buf[self._read_pos:] + data
                self._read_pos = 0
        return len(data)

    def headers_ready(self):
        """Whether a whole header block (or more than cheroot accepts) is buffered."""
        pending = self.pending()
        return HEADER_END in pending or (self.header_limit and len(pending) > self.header_limit)

    def has_data(self):
        """cheroot's "run this connection again at once": only for a complete header block,
        so a half-sent request waits in the selector instead of in a worker."""
        return self.headers_ready()


class _HoldingWriter(makefile.StreamWriter):
    """cheroot's socket writer, which can hold a response's headers back until its first
    body bytes (or the end of the response), so that a small response leaves in one
    ``send`` and one packet instead of two. The bytes are the same; ``bytes_written``
    counts held bytes at once. Anything that writes to the socket itself calls
    :meth:`flush` first (as the sendfile gateway does)."""

    holding = False
    _held = b''

    def write(self, val, *args, **kwargs):
        """Write (or hold, while :attr:`holding`) ``val``, after what is held."""
        if self.holding:
            self._held += val
            self.bytes_written += len(val)
            return len(val)
        if self._held:
            held, self._held = self._held, b''
            if len(val) > self.raw_buffer_size:
                makefile.BufferedWriter.write(self, held)
            else:
                makefile.BufferedWriter.write(self, b''.join((held, val)))
                self.bytes_written += len(val)
                return len(val)
        return super().write(val, *args, **kwargs)

    raw_buffer_size = 65536   # larger body chunks are not copied to join the headers

    def release(self):
        """Send what is held."""
        if self._held:
            held, self._held = self._held, b''
            makefile.BufferedWriter.write(self, held)

    def flush(self):
        """Send what is held, then what is buffered."""
        self.release()
        super().flush()


def _makefile(sock, mode='r', bufsize=makefile.io.DEFAULT_BUFFER_SIZE):
    if 'r' in mode:
        return _HeaderGatheringReader(sock, mode, bufsize)
    return _HoldingWriter(sock, mode, bufsize)


class PacificaConnection(cheroot_server.HTTPConnection):
    """A connection whose requests reach a worker only once their headers are complete."""

    RequestHandlerClass = PacificaRequest

    def __init__(self, server, sock, makefile_=makefile.MakeFile):
        # TLS sockets come with the adapter's own file class: keep it (and cheroot's
        # blocking header reads) for those.
        super().__init__(server, sock, _makefile if makefile_ is makefile.MakeFile
                         else makefile_)
        self.drain_before_close = False
        self._header_started = None
        if isinstance(self.rfile, _HeaderGatheringReader):
            self.rfile.header_limit = server.max_request_header_size

    def communicate(self):
        """Serve requests once their headers are in; True keeps the connection.

        After a kept-alive response the worker waits a moment (``NEXT_REQUEST_WAIT``) for
        the client's next request and serves it at once when nothing else is queued: a
        client sending request after request then costs no trip through cheroot's selector
        thread and back (two thread hand-offs per request, the larger part of a small
        request's cost on a busy machine)."""
        gathering = isinstance(self.rfile, _HeaderGatheringReader)
        while True:
            if gathering:
                state = self._gather_headers()
                if state is not None:
                    return state
            self._header_started = None
            self.socket.settimeout(self.server.body_timeout)
            keep = super().communicate()
            if not (keep and gathering and self._next_request_soon()):
                return keep

    def _next_request_soon(self):
        """Whether no other connection is waiting for a worker and the next request's bytes
        are here (pipelined) or arrive within the wait. A connection that others wait
        behind goes back to cheroot, which queues it behind them (pipelined bytes and
        all), so one client cannot keep a worker to itself."""
        if self.server.requests.qsize or not self.server.ready:
            return False
        if self.rfile.pending():
            return True
        try:
            poller = select.poll()    # poll, not select: any descriptor number
            poller.register(self.socket, select.POLLIN)
            return bool(poller.poll(NEXT_REQUEST_WAIT * 1000))
        except (OSError, ValueError):
            return False

    def _gather_headers(self):
        """None when the request can be parsed now, True to wait for more bytes in the
        selector, False to drop the connection."""
        while True:
            if self.rfile.headers_ready():
                return None
            pending = self.rfile.pending()
            now = time.monotonic()
            if pending and self._header_started is None:
                self._header_started = now
            if (self._header_started is not None
                    and now - self._header_started > self.server.header_timeout):
                request = self.RequestHandlerClass(self.server, self)
                request.simple_response('408 Request Timeout',
                                        'the request headers took more than {:g} s'.format(
                                            self.server.header_timeout))
                return False
            got = self.rfile.fill_now()
            if got is None:
                return True
            if got == 0:
                # The client is gone: what it left of a request gets cheroot's 400 (it may
                # still read it, having only shut its sending side); nothing, just a close.
                return None if pending else False

    def close(self):
        """Close; when the response left request bytes unread, the lingering close (see
        :class:`_Lingerer`) takes the socket over instead, so no worker waits for it."""
        try:
            _release(self.wfile)   # headers held for a body that never came
        except OSError:
            pass   # the client is gone
        if not self.drain_before_close:
            super().close()
            return
        self.drain_before_close = False
        if type(self.socket) is socket.socket:  # pylint: disable=unidiomatic-typecheck
            self.rfile.close()
            LINGERER.take(self.socket)
        else:   # a TLS socket: drain here (its shutdown and reads are the adapter's)
            _drain(self.socket)
            super().close()


def _drain(sock):
    try:
        sock.shutdown(socket.SHUT_WR)
        deadline = time.monotonic() + LINGER_SECONDS
        left = LINGER_BYTES
        while left > 0:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            sock.settimeout(remaining)
            data = sock.recv(min(left, 65536))
            if not data:
                return
            left -= len(data)
    except OSError:
        pass


class _Lingerer:
    """The lingering close of sockets whose response left request bytes unread: send the
    FIN, then read and drop what still arrives until the client closes, ``LINGER_BYTES``
    were dropped or ``LINGER_SECONDS`` passed, and only then close. One thread does it for
    every connection of the process: done in the worker, a client that got an error (a
    408 for headers that never end, say) and kept sending held that worker for the whole
    second, and twenty such clients held every worker of the default pool. At most
    ``limit`` sockets linger at once; a socket handed over beyond that is closed at once."""

    POLL_STEP = 0.05   # seconds; the longest a socket lingers past its deadline

    def __init__(self, limit=LINGER_MAX_SOCKETS):
        self.limit = limit
        self.closed_at_once = 0     # sockets closed without lingering (the cap was reached)
        self._cond = threading.Condition()
        self._socks = {}    # fd: [socket, deadline, bytes left to drop]
        self._thread = None

    def take(self, sock):
        """Own ``sock`` from now on (its response is complete) and close it in time, or at
        once when ``limit`` sockets are lingering already."""
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.setblocking(False)
        except OSError:
            sock.close()
            return
        with self._cond:
            if len(self._socks) >= self.limit:
                self.closed_at_once += 1
                sock.close()
                return
            self._socks[sock.fileno()] = [sock, time.monotonic() + LINGER_SECONDS,
                                          LINGER_BYTES]
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name='pacifica-linger',
                                                daemon=True)
                self._thread.start()
            self._cond.notify()

    def lingering(self):
        """How many sockets are waiting for their close."""
        with self._cond:
            return len(self._socks)

    def _run(self):
        poller = select.poll()
        registered = set()
        while True:
            with self._cond:
                while not self._socks:
                    self._cond.wait()
                current = dict(self._socks)
            for fd in current.keys() - registered:
                poller.register(fd, select.POLLIN)
            registered.update(current)
            now = time.monotonic()
            wait = min(entry[1] for entry in current.values()) - now
            for fd, _event in poller.poll(max(0.0, min(wait, self.POLL_STEP)) * 1000):
                entry = current.get(fd)
                if entry is None:
                    continue
                try:
                    data = entry[0].recv(min(entry[2], 65536))
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b''
                entry[2] -= len(data)
                if not data or entry[2] <= 0:
                    self._close(fd, poller, registered)
            now = time.monotonic()
            for fd, entry in current.items():
                if entry[1] <= now and fd in registered:
                    self._close(fd, poller, registered)

    def _close(self, fd, poller, registered):
        poller.unregister(fd)
        registered.discard(fd)
        with self._cond:
            sock = self._socks.pop(fd)[0]
        sock.close()


LINGERER = _Lingerer()


class PacificaServer(_cpwsgi_server.CPWSGIServer):
    """CherryPy's cheroot server (built from ``cherrypy.server``) with the rules above.

    ``socket_timeout`` of ``cherrypy.server`` is the header and keep-alive idle timeout;
    ``max_request_body_size`` the default body limit; ``body_limits`` gives larger (or
    smaller) limits to path prefixes, as ``((b'/ingest', 64 << 20),)``.
    """

    def __init__(self, server_adapter=None, body_timeout=30.0, body_limits=()):
        super().__init__(server_adapter or cherrypy.server)
        self.ConnectionClass = PacificaConnection
        self.header_timeout = float(self.timeout)
        self.body_timeout = float(body_timeout)
        self.default_body_limit = self.max_request_body_size
        # The requests enforce the limit themselves, per path.
        self.max_request_body_size = 0
        self.body_limits = tuple((prefix.rstrip(b'/'), int(limit))
                                 for prefix, limit in body_limits)

    def body_limit(self, path):
        """The body limit in bytes (0: none) for a request path."""
        return limit_for(path or b'', self.default_body_limit, self.body_limits)


def limit_for(path, default, prefixes):
    """The limit of the first ``(prefix, limit)`` whose prefix is ``path`` or a parent of it
    (bytes or text alike), else ``default``."""
    slash = b'/' if isinstance(path, bytes) else '/'
    for prefix, limit in prefixes:
        if path == prefix or path.startswith(prefix + slash):
            return limit
    return default


# -- from the service's [server] keys -------------------------------------------------------
def cherrypy_settings(config):
    """The ``server.*`` CherryPy settings of a service's ``[server]`` keys (a CherryPy file
    applied after these may still change them)."""
    if not config.has('server', 'thread_pool'):
        return {}
    timeout = config.get('server', 'header_timeout')
    return {'server.max_request_body_size': config.get('server', 'max_request_body'),
            # CherryPy's config checker expects an int here; a fraction works all the same.
            'server.socket_timeout': int(timeout) if timeout.is_integer() else timeout,
            'server.thread_pool': config.get('server', 'thread_pool'),
            'server.socket_queue_size': listen_backlog()}


def listen_backlog(wanted=LISTEN_BACKLOG):
    """The listen backlog (CherryPy's default is 5): ``wanted``, or the kernel's
    ``net.core.somaxconn`` when that is lower (the kernel would cut it to that silently). A
    burst of new connections then waits in the kernel instead of having its SYNs dropped
    and resent a second later."""
    try:
        with open('/proc/sys/net/core/somaxconn', encoding='ascii') as handle:
            return max(1, min(wanted, int(handle.read().strip())))
    except (OSError, ValueError):
        return wanted


def guard_wsgi(app, config, body_limits=()):
    """Give a CherryPy application served by another WSGI server (uWSGI) the same body
    limits and Content-Length + Transfer-Encoding refusal, as an ``on_start_resource`` hook:
    413 from the headers before the body is read, or when a chunked body passes the limit.
    (Closing the connection after an unread body is that server's business.)"""
    if not config.has('server', 'max_request_body'):
        return
    default = config.get('server', 'max_request_body')
    prefixes = tuple((prefix.rstrip('/'), config.get('server', key))
                     for prefix, key in body_limits)

    def guard():
        request = cherrypy.serving.request
        length = request.headers.get('Content-Length')
        if length is not None and 'Transfer-Encoding' in request.headers:
            raise errors.BadRequest('a request may not carry both Content-Length and '
                                    'Transfer-Encoding')
        limit = limit_for(request.path_info, default, prefixes)
        if not limit:
            return
        if length is not None and length.strip().isdigit() and int(length) > limit:
            raise errors.TooLarge('the request body is {} bytes; the limit for this path is '
                                  '{} bytes'.format(int(length), limit))
        if getattr(request, 'body', None) is not None:
            request.body.maxbytes = limit
    app.config['/']['hooks.on_start_resource'] = guard


def factory(config, body_limits=()):
    """``factory(cherrypy.server)`` builds the :class:`PacificaServer` for a service's config;
    ``body_limits`` pairs path prefixes with the ``[server]`` key of their own limit."""
    timeout = config.get('server', 'body_timeout') if config.has('server', 'body_timeout') \
        else 30.0
    limits = tuple((prefix.encode('utf-8'), config.get('server', key))
                   for prefix, key in body_limits)

    def build(server_adapter):
        return PacificaServer(server_adapter, body_timeout=timeout, body_limits=limits)
    return build

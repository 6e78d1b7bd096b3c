"""The archive-interface client cartd's workers use: stage (POST), status (HEAD), pull (GET).

Failures are sorted into two kinds: :class:`Transient` (connection trouble, 5xx: worth a retry
with back-off) and :class:`Terminal` (4xx, a missing header, a hash mismatch: retrying cannot
help). The file id is percent-encoded as one path segment, so an id can never walk the
archive's URL space (upstream concatenated it verbatim).
"""
import hashlib
import http.client
import json
from urllib.parse import quote, urlsplit


class ArchiveFailure(Exception):
    """Something went wrong talking to the archive."""


class Transient(ArchiveFailure):
    """A failure that may go away: retry with back-off."""


class Terminal(ArchiveFailure):
    """A failure that will not go away: mark the file error."""


class HashMismatch(Terminal):
    """The downloaded bytes do not hash to the expected sum."""


MAX_ERROR_BODY = 64 * 1024
# What a kept-alive connection that the archive closed while idle raises when reused.
_STALE_CONNECTION = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                     http.client.CannotSendRequest)

REQUIRED_HEADERS = ('X-Pacifica-Messsage', 'X-Content-Length', 'X-Pacifica-Ctime',
                    'Last-Modified', 'X-Pacifica-Bytes-Per-Level',
                    'X-Pacifica-File-Storage-Media')


class FileStatus:
    """What HEAD said about a file."""

    def __init__(self, size, mtime, media):
        self.size = size
        self.mtime = mtime
        self.media = media

    @property
    def on_disk(self):
        """Whether the archive can serve the file now (media ``disk``)."""
        return self.media == 'disk'


def short(text, limit=200):
    """``text`` on one line, cut to ``limit`` characters (for messages stored and logged)."""
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit] + '...'


def _unreachable(fileid, exc):
    return Transient('cannot reach the archive for file {}: {}'.format(
        fileid, short(exc) or type(exc).__name__))


class ArchiveClient:
    """One keep-alive HTTP connection per process against ``base_url``.

    Plain :mod:`http.client` rather than requests: a worker makes two requests per file,
    and requests' per-request machinery cost more CPU than the archive's own answer. A
    connection the archive closed while idle is reopened once, transparently.
    """

    def __init__(self, base_url, timeout=60.0, chunk_size=4 << 20):
        parts = urlsplit(base_url if base_url.endswith('/') else base_url + '/')
        if parts.scheme not in ('http', 'https') or not parts.hostname:
            raise ValueError('archive interface URL must be http(s)://host[:port]/path/, '
                             'not {!r}'.format(base_url))
        self._connection_class = (http.client.HTTPSConnection if parts.scheme == 'https'
                                  else http.client.HTTPConnection)
        self._netloc = parts.netloc
        self._path = parts.path
        self.timeout = timeout
        self.chunk_size = chunk_size
        self._connection = None
        self._buffer = None

    def close(self):
        """Drop the connection (the next request opens a new one)."""
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _request(self, method, fileid, body=None):
        """Send one request and return its response (headers read, body not)."""
        target = self._path + quote(str(fileid), safe='')
        headers = {'Content-Length': '0'} if body is not None else {}
        for attempt in (0, 1):
            reused = self._connection is not None
            if not reused:
                self._connection = self._connection_class(self._netloc, timeout=self.timeout)
            try:
                self._connection.request(method, target, body=body, headers=headers)
                return self._connection.getresponse()
            except (http.client.HTTPException, OSError) as exc:
                self.close()
                # A kept-alive connection the archive dropped while idle: once more, fresh.
                if reused and attempt == 0 and isinstance(exc, _STALE_CONNECTION):
                    continue
                raise _unreachable(fileid, exc) from None
        raise AssertionError('unreachable')

    def _check(self, response, what, fileid):
        """Raise the right failure for a non-2xx answer (and drop the connection, whose
        error body may not have been read to its end)."""
        if 200 <= response.status < 300:
            return
        try:
            body = response.read(MAX_ERROR_BODY)
        except (http.client.HTTPException, OSError):
            body = b''
        self.close()
        text = body.decode('utf-8', 'replace')
        try:
            detail = json.loads(text).get('message', '')
        except (ValueError, AttributeError):
            detail = text
        text = 'archive answered {} {} to {} of file {}{}'.format(
            response.status, response.reason, what, fileid,
            ': ' + short(detail) if detail else '')
        if response.status >= 500:
            raise Transient(text)
        raise Terminal(text)

    def _finish(self, response, fileid):
        """Read the rest of a response so the connection can carry the next request."""
        try:
            response.read()
        except (http.client.HTTPException, OSError) as exc:
            self.close()
            raise _unreachable(fileid, exc) from None
        if response.will_close:
            self.close()

    def stage(self, fileid):
        """Ask the archive to bring the file to disk (POST)."""
        response = self._request('POST', fileid, body=b'')
        self._check(response, 'stage', fileid)
        self._finish(response, fileid)

    def status(self, fileid):
        """Where the file is and its size and mtime (HEAD)."""
        response = self._request('HEAD', fileid)
        self._check(response, 'status', fileid)
        self._finish(response, fileid)
        headers = response.headers
        missing = [name for name in REQUIRED_HEADERS if headers.get(name) is None]
        if missing:
            raise Terminal('archive status of file {} lacks header {}'.format(
                fileid, ', '.join(missing)))
        try:
            size = int(headers['X-Content-Length'])
        except ValueError:
            raise Terminal('Failed to decode file size {!r} of file {}'.format(
                short(headers['X-Content-Length'], 40), fileid)) from None
        try:
            mtime = int(float(headers['Last-Modified']))
        except (ValueError, OverflowError):
            raise Terminal('Failed to decode file mtime {!r} of file {}'.format(
                short(headers['Last-Modified'], 40), fileid)) from None
        if size < 0:
            raise Terminal('archive reports a negative size for file {}'.format(fileid))
        return FileStatus(size, mtime, headers['X-Pacifica-File-Storage-Media'].strip())

    def pull(self, fileid, handle, hashtype, hashsum, expected_size=None, heartbeat=None):
        """Stream the file into the open binary ``handle``, hashing as it goes.

        Raises HashMismatch when the digest (compared case-insensitively) differs, Transient
        when the transfer broke off. ``heartbeat`` is called after each chunk. Returns the
        number of bytes written.
        """
        digest = hashlib.new(hashtype)
        response = self._request('GET', fileid)
        self._check(response, 'download', fileid)
        if self._buffer is None:
            self._buffer = memoryview(bytearray(self.chunk_size))
        buffer = self._buffer
        written = 0
        try:
            while True:
                count = response.readinto(buffer)
                if not count:
                    if response.length:   # closed before its Content-Length
                        raise http.client.IncompleteRead(b'', response.length)
                    break
                piece = buffer[:count]
                handle.write(piece)
                digest.update(piece)
                written += count
                if heartbeat:
                    heartbeat()
        except (http.client.HTTPException, ConnectionError, TimeoutError) as exc:
            self.close()
            raise Transient('download of file {} broke off after {} bytes: {}'.format(
                fileid, written, short(exc) or type(exc).__name__)) from None
        except BaseException:
            self.close()   # mid-body: the connection cannot carry another request
            raise
        if response.will_close:
            self.close()
        if expected_size is not None and written != expected_size:
            raise Transient('download of file {} gave {} bytes, the archive announced {}'.format(
                fileid, written, expected_size))
        if digest.hexdigest().lower() != hashsum.lower():
            raise HashMismatch('File hash does not match provided hash (file {}, {} {} '
                               'expected, {} received)'.format(fileid, hashtype, hashsum.lower(),
                                                               digest.hexdigest()))
        handle.flush()   # durability is the caller's: staged files are synced in batches
        return written

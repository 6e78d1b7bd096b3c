"""The archive-interface client cartd's workers use: stage (POST), status (HEAD), pull (GET).

Failures are sorted into two kinds: :class:`Transient` (connection trouble, 5xx: worth a retry
with back-off) and :class:`Terminal` (4xx, a missing header, a hash mismatch: retrying cannot
help). The file id is percent-encoded as one path segment, so an id can never walk the
archive's URL space (upstream concatenated it verbatim).
"""
import hashlib
import os
from urllib.parse import quote

import requests


class ArchiveFailure(Exception):
    """Something went wrong talking to the archive."""


class Transient(ArchiveFailure):
    """A failure that may go away: retry with back-off."""


class Terminal(ArchiveFailure):
    """A failure that will not go away: mark the file error."""


class HashMismatch(Terminal):
    """The downloaded bytes do not hash to the expected sum."""


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


def _short(text, limit=200):
    text = ' '.join(str(text).split())
    return text if len(text) <= limit else text[:limit] + '...'


def _check(response, what, fileid):
    """Raise the right failure for a non-2xx answer."""
    if 200 <= response.status_code < 300:
        return
    try:
        detail = response.json().get('message', '')
    except ValueError:
        detail = response.text
    text = 'archive answered {} {} to {} of file {}{}'.format(
        response.status_code, response.reason, what, fileid,
        ': ' + _short(detail) if detail else '')
    if response.status_code >= 500:
        raise Transient(text)
    raise Terminal(text)


class ArchiveClient:
    """One HTTP session per process (keep-alive) against ``base_url``."""

    def __init__(self, base_url, timeout=60.0, chunk_size=4 << 20):
        self.base_url = base_url if base_url.endswith('/') else base_url + '/'
        self.timeout = timeout
        self.chunk_size = chunk_size
        self.session = requests.Session()
        # The archive is a direct peer: skip the per-request scan of proxy variables,
        # which costs more than a HEAD on a busy worker.
        self.session.trust_env = False

    def url(self, fileid):
        """The archive URL of ``fileid``, the id escaped as one path segment."""
        return self.base_url + quote(str(fileid), safe='')

    def _request(self, method, fileid, **kwargs):
        try:
            return self.session.request(method, self.url(fileid), timeout=self.timeout,
                                        **kwargs)
        except requests.RequestException as exc:
            raise Transient('cannot reach the archive for file {}: {}'.format(
                fileid, _short(exc))) from None

    def stage(self, fileid):
        """Ask the archive to bring the file to disk (POST)."""
        response = self._request('POST', fileid, data=b'')
        _check(response, 'stage', fileid)

    def status(self, fileid):
        """Where the file is and its size and mtime (HEAD)."""
        response = self._request('HEAD', fileid)
        _check(response, 'status', fileid)
        headers = response.headers
        missing = [name for name in REQUIRED_HEADERS if name not in headers]
        if missing:
            raise Terminal('archive status of file {} lacks header {}'.format(
                fileid, ', '.join(missing)))
        try:
            size = int(headers['X-Content-Length'])
        except ValueError:
            raise Terminal('Failed to decode file size {!r} of file {}'.format(
                _short(headers['X-Content-Length'], 40), fileid)) from None
        try:
            mtime = int(float(headers['Last-Modified']))
        except ValueError:
            raise Terminal('Failed to decode file mtime {!r} of file {}'.format(
                _short(headers['Last-Modified'], 40), fileid)) from None
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
        response = self._request('GET', fileid, stream=True)
        written = 0
        try:
            _check(response, 'download', fileid)
            try:
                for chunk in response.iter_content(self.chunk_size):
                    handle.write(chunk)
                    digest.update(chunk)
                    written += len(chunk)
                    if heartbeat:
                        heartbeat()
            except requests.RequestException as exc:
                raise Transient('download of file {} broke off after {} bytes: {}'.format(
                    fileid, written, _short(exc))) from None
        finally:
            response.close()
        if expected_size is not None and written != expected_size:
            raise Transient('download of file {} gave {} bytes, the archive announced {}'.format(
                fileid, written, expected_size))
        if digest.hexdigest().lower() != hashsum.lower():
            raise HashMismatch('File hash does not match provided hash (file {}, {} {} '
                               'expected, {} received)'.format(fileid, hashtype, hashsum.lower(),
                                                               digest.hexdigest()))
        handle.flush()
        os.fsync(handle.fileno())
        return written

"""The archive protocol over HTTP: one resource at ``/``, the file id is the first path
segment.

``GET /<id>`` (``byte_range=START-END`` or a standard ``Range``), ``PUT /<id>`` (raw body,
``Last-Modified``), ``HEAD /<id>`` (the status headers cartd reads), ``POST /<id>`` (stage),
``PATCH /<id>`` (move a file from the staging root in), ``DELETE /<id>``.
"""
import json
import re
import time

import cherrypy

from pacifica.common import rest, sendfile
from pacifica.common.errors import ServiceError

from .backend import ArchiveError, InvalidRequest, parse_time

ALLOW = 'DELETE, GET, HEAD, PATCH, POST, PUT'
READ_BLOCK = 1 << 20
MAX_PATCH_BODY = 64 * 1024
_BYTE_RANGE = re.compile(r'\s*([0-9]{1,20})-([0-9]{1,20})\s*\Z')
_RANGE = re.compile(r'\s*bytes\s*=\s*([0-9]{0,20})\s*-\s*([0-9]{0,20})\s*\Z', re.IGNORECASE)

# HEAD headers, in upstream's spelling (three s's in Messsage: cartd reads exactly that).
MESSAGE = 'X-Pacifica-Messsage'
STATUS_HEADERS = ('X-Pacifica-File', 'X-Content-Length', 'Last-Modified', 'X-Pacifica-Ctime',
                  'X-Pacifica-Bytes-Per-Level', 'X-Pacifica-File-Storage-Media')


def _add_allow():
    cherrypy.response.headers['Allow'] = ALLOW


def _http_error(exc):
    return cherrypy.HTTPError(exc.status, str(exc))


def parse_byte_range(value, size):
    """``byte_range=START-FINISH`` → ``(start, length)``; FINISH is exclusive and the range
    is cut at the end of the file, as upstream."""
    match = _BYTE_RANGE.match(value)
    if not match:
        raise InvalidRequest('Invalid byte range format (int-int) given {!r}'.format(value[:64]))
    start, finish = int(match.group(1)), int(match.group(2))
    start = min(start, size)
    return start, max(0, min(finish, size) - start)


def parse_range_header(value, size):
    """A single ``bytes=`` range → ``(start, length)``; None when the header is to be ignored
    (several ranges or a malformed one, as RFC 9110 allows); ``(None, None)`` when the range
    cannot be satisfied."""
    match = _RANGE.match(value)
    if not match or (not match.group(1) and not match.group(2)):
        return None
    first, last = match.group(1), match.group(2)
    if not first:
        suffix = int(last)
        if suffix == 0:
            return None, None
        start = max(0, size - suffix)
        return start, size - start
    start = int(first)
    end = min(int(last), size - 1) if last else size - 1
    if start >= size or (last and int(last) < start):
        return None, None
    return start, end - start + 1


class ArchiveResource(rest.StatusRoot):
    """Every method of the protocol, dispatched on the HTTP verb."""

    title = 'Archive Interface'
    _cp_config = {'hooks.before_finalize': _add_allow}

    def __init__(self, backend):
        self.backend = backend

    @staticmethod
    def _one_id(segments):
        if not segments:
            raise rest.not_found('a file id is required: /<file id>')
        if len(segments) > 1:
            raise rest.not_found()
        return segments[0]

    # -- GET --------------------------------------------------------------------------------
    def GET(self, *segments, byte_range=None, **_ignored):  # pylint: disable=invalid-name,arguments-differ
        """The status message at ``/``; the file's bytes at ``/<id>``."""
        if not segments:
            return super().GET()
        fileid = segments[0]   # upstream ignores extra segments on GET
        try:
            handle, info = self.backend.open(fileid)
        except ArchiveError as exc:
            raise _http_error(exc) from None
        size = info.st_size
        response = cherrypy.response
        start, length = 0, size
        try:
            if byte_range is not None:
                start, length = parse_byte_range(rest.single('byte_range', byte_range), size)
            else:
                header = cherrypy.request.headers.get('Range')
                parsed = parse_range_header(header, size) if header else None
                if parsed == (None, None):
                    response.headers['Content-Range'] = 'bytes */{}'.format(size)
                    raise cherrypy.HTTPError(416, 'Range {!r} cannot be satisfied for a file of '
                                                  '{} bytes'.format(header[:64], size))
                if parsed is not None:
                    start, length = parsed
                    response.status = 206
                    response.headers['Content-Range'] = 'bytes {}-{}/{}'.format(
                        start, start + length - 1, size)
        except ArchiveError as exc:
            handle.close()
            raise _http_error(exc) from None
        except (cherrypy.HTTPError, ServiceError):
            handle.close()
            raise
        response.headers['Content-Type'] = 'application/octet-stream'
        response.headers['Content-Length'] = str(length)
        response.headers['Accept-Ranges'] = 'bytes'
        return sendfile.file_body(handle, start, length, READ_BLOCK)

    GET._cp_config = {'response.stream': True}

    # -- HEAD -------------------------------------------------------------------------------
    def HEAD(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """The status headers cartd reads; 404 with placeholder values when missing."""
        fileid = self._one_id(segments)
        headers = cherrypy.response.headers
        headers['Content-Type'] = rest.JSON_TYPE
        try:
            info = self.backend.stat(fileid)
        except ArchiveError as exc:
            if exc.status != 404:
                raise _http_error(exc) from None
            # Upstream's designed not-found answer: every header present, none parseable,
            # so an old cartd fails cleanly on int() instead of on a missing key.
            cherrypy.response.status = 404
            headers[MESSAGE] = 'File Not found'
            headers['X-Pacifica-Message'] = 'File Not found'
            for name in STATUS_HEADERS:
                headers[name] = 'File Not Found'
            return b''
        cherrypy.response.status = 204
        headers[MESSAGE] = 'File was found'
        headers['X-Pacifica-Message'] = 'File was found'
        headers['X-Pacifica-File'] = self.backend.relative_path(fileid)
        headers['X-Content-Length'] = str(info.st_size)
        headers['Last-Modified'] = str(float(info.st_mtime))
        headers['X-Pacifica-Ctime'] = str(float(info.st_ctime))
        headers['X-Pacifica-Bytes-Per-Level'] = '({},)'.format(info.st_size)
        headers['X-Pacifica-File-Storage-Media'] = 'disk'
        return b''

    # -- PUT --------------------------------------------------------------------------------
    def PUT(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Store the raw request body as the file."""
        fileid = self._one_id(segments)
        request = cherrypy.request
        length_text = request.headers.get('Content-Length')
        if length_text is None:
            raise cherrypy.HTTPError(411, 'Content-Length is required: the archive stores only '
                                          'uploads whose complete length is known')
        if not length_text.strip().isdigit():
            raise rest.bad_request('Content-Length {!r} is not a byte count'.format(
                length_text[:32]))
        modified = request.headers.get('Last-Modified')
        try:
            mtime = parse_time(modified) if modified is not None else time.time()
        except ValueError:
            raise rest.bad_request(
                'Last-Modified {!r} is not a date (send an RFC 1123 date such as '
                '"Sun, 06 Nov 1994 08:49:37 GMT")'.format(modified[:64])) from None
        try:
            written = self.backend.store(fileid, request.rfile, int(length_text), mtime)
        except ArchiveError as exc:
            raise _http_error(exc) from None
        cherrypy.response.status = 201
        return rest.json_body({'message': 'File added to archive', 'total_bytes': written})

    # Always raw bytes: upstream parsed form-encoded bodies (curl's --data-binary default).
    PUT._cp_config = {'request.process_request_body': False}

    # -- POST -------------------------------------------------------------------------------
    def POST(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Stage the file to disk: on POSIX it always is, so this checks that it exists."""
        fileid = self._one_id(segments)
        try:
            handle, _info = self.backend.open(fileid)
        except ArchiveError as exc:
            raise _http_error(exc) from None
        handle.close()
        return rest.json_body({'message': 'File was staged', 'file': fileid})

    POST._cp_config = {'request.process_request_body': False}

    # -- PATCH ------------------------------------------------------------------------------
    def PATCH(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Move ``{"path": ...}`` (a file under the staging root) into the archive."""
        fileid = self._one_id(segments)
        request = cherrypy.request
        ctype = request.headers.get('Content-Type', '').split(';')[0].strip().lower()
        if ctype not in ('application/json', 'text/javascript'):
            raise cherrypy.HTTPError(415, 'PATCH needs Content-Type: application/json')
        length = request.headers.get('Content-Length', '')
        if not length.isdigit():
            raise cherrypy.HTTPError(411, 'Content-Length is required')
        if int(length) > MAX_PATCH_BODY:
            raise cherrypy.HTTPError(413, 'the PATCH body is limited to {} bytes'.format(
                MAX_PATCH_BODY))
        raw = request.rfile.read(int(length))
        try:
            body = json.loads(raw.decode('utf-8'))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise rest.bad_request('Invalid JSON document') from None
        if not isinstance(body, dict) or 'path' not in body:
            raise rest.bad_request('the PATCH body must be {"path": "<absolute source path>"}')
        try:
            self.backend.move_in(fileid, body['path'])
        except ArchiveError as exc:
            raise _http_error(exc) from None
        return rest.json_body({'message': 'File Moved Successfully'})

    PATCH._cp_config = {'request.process_request_body': False}

    # -- DELETE -----------------------------------------------------------------------------
    def DELETE(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Remove the file; 200 with an empty body, as upstream."""
        fileid = self._one_id(segments)
        try:
            self.backend.delete(fileid)
        except ArchiveError as exc:
            raise _http_error(exc) from None
        return b''


def make_root(context):
    """The resource over the backend the context describes."""
    return ArchiveResource(context.extra['backend'])

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

from pacifica.common import byterange, rest, sendfile
from pacifica.common.errors import BadRequest, NotFound, ServiceError, TooLarge

from .backend import MTIME_RANGE, parse_time

ALLOW = 'DELETE, GET, HEAD, PATCH, POST, PUT'
READ_BLOCK = 1 << 20
MAX_PATCH_BODY = 64 * 1024
_BYTE_RANGE = re.compile(r'\s*([0-9]{1,20})-([0-9]{1,20})\s*\Z')

# HEAD headers, in upstream's spelling (three s's in Messsage: cartd reads exactly that).
MESSAGE = 'X-Pacifica-Messsage'
STATUS_HEADERS = ('X-Pacifica-File', 'X-Content-Length', 'Last-Modified', 'X-Pacifica-Ctime',
                  'X-Pacifica-Bytes-Per-Level', 'X-Pacifica-File-Storage-Media')


def _add_allow():
    cherrypy.response.headers['Allow'] = ALLOW


def _body_length(request, what):
    """The request's declared body length. A body must come with exactly one plain
    Content-Length: a chunked one is refused (411) before any of it is read, so that no
    upload of unknown length is ever stored (the protocol requires Content-Length)."""
    headers = request.headers
    length_text = headers.get('Content-Length')
    if 'Transfer-Encoding' in headers:
        if length_text is not None:
            raise BadRequest('a request may not carry both Content-Length and '
                             'Transfer-Encoding')
        raise ServiceError('{} needs Content-Length: the archive does not accept chunked '
                           'uploads'.format(what), status=411)
    if length_text is None:
        raise ServiceError('Content-Length is required: the archive stores only uploads '
                           'whose complete length is known', status=411)
    text = length_text.strip()
    if not text.isascii() or not text.isdigit():
        raise BadRequest('Content-Length {!r} is not a byte count'.format(length_text[:32]))
    return int(text)


def parse_byte_range(value, size):
    """``byte_range=START-FINISH`` → ``(start, length)``; FINISH is exclusive and the range
    is cut at the end of the file, as upstream."""
    match = _BYTE_RANGE.match(value)
    if not match:
        raise BadRequest('Invalid byte range format (int-int) given {!r}'.format(value[:64]))
    start, finish = int(match.group(1)), int(match.group(2))
    start = min(start, size)
    return start, max(0, min(finish, size) - start)


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
        handle, info = self.backend.open(fileid)
        size = info.st_size
        response = cherrypy.response
        start, length = 0, size
        try:
            if byte_range is not None:
                start, length = parse_byte_range(rest.single('byte_range', byte_range), size)
            else:
                header = cherrypy.request.headers.get('Range')
                wanted = byterange.single_range(header, size)
                if wanted == byterange.UNSATISFIABLE:
                    raise ServiceError('Range {!r} cannot be satisfied for a file of {} '
                                       'bytes'.format(header[:64], size), status=416,
                                       headers={'Content-Range': 'bytes */{}'.format(size)})
                if wanted is not None:
                    start, stop = wanted
                    length = stop - start
                    response.status = 206
                    response.headers['Content-Range'] = 'bytes {}-{}/{}'.format(
                        start, stop - 1, size)
        except ServiceError:
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
        except NotFound:
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
        length = _body_length(request, 'PUT')
        modified = request.headers.get('Last-Modified')
        try:
            mtime = parse_time(modified) if modified is not None else time.time()
        except ValueError as exc:
            raise BadRequest(
                'Last-Modified {!r} is {}: send an RFC 1123 date such as "Sun, 06 Nov 1994 '
                '08:49:37 GMT" from 1970 to 2242, or epoch seconds from {} to {}'.format(
                    modified[:64], exc, MTIME_RANGE[0], MTIME_RANGE[1] - 1)) from None
        written = self.backend.store(fileid, request.rfile, length, mtime)
        cherrypy.response.status = 201
        return rest.json_body({'message': 'File added to archive', 'total_bytes': written})

    # Always raw bytes: upstream parsed form-encoded bodies (curl's --data-binary default).
    PUT._cp_config = {'request.process_request_body': False}

    # -- POST -------------------------------------------------------------------------------
    def POST(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Stage the file to disk: on POSIX it always is, so this checks that it exists."""
        fileid = self._one_id(segments)
        handle, _info = self.backend.open(fileid)
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
            raise ServiceError('PATCH needs Content-Type: application/json', status=415)
        length = _body_length(request, 'PATCH')
        if length > MAX_PATCH_BODY:
            raise TooLarge('the PATCH body is limited to {} bytes'.format(MAX_PATCH_BODY))
        raw = request.rfile.read(length)
        if len(raw) != length:
            raise BadRequest('the PATCH body ended after {} of the {} bytes announced in '
                             'Content-Length'.format(len(raw), length))
        try:
            body = json.loads(raw.decode('utf-8'))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise rest.bad_request('Invalid JSON document') from None
        if not isinstance(body, dict) or 'path' not in body:
            raise rest.bad_request('the PATCH body must be {"path": "<absolute source path>"}')
        self.backend.move_in(fileid, body['path'])
        return rest.json_body({'message': 'File Moved Successfully'})

    PATCH._cp_config = {'request.process_request_body': False}

    # -- DELETE -----------------------------------------------------------------------------
    def DELETE(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Remove the file; 200 with an empty body, as upstream."""
        fileid = self._one_id(segments)
        self.backend.delete(fileid)
        return b''


def make_root(context):
    """The resource over the backend the context describes."""
    return ArchiveResource(context.extra['backend'])

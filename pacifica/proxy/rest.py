"""The proxy's HTTP resources: ``/`` and ``/files/<hashtype>/<hashsum>``."""
from urllib.parse import quote

import cherrypy

from pacifica.common import byterange, rest, sendfile
from pacifica.common.errors import ServiceError

from .fetch import (PeerError, TransferAborted, check_hash, content_disposition,
                    verified_stream)


def primed(stream):
    """Run ``stream`` up to its first block before any header is sent.

    A failure found that early (a one-block file whose hash is wrong, an archive that
    sends nothing) becomes a clean 502 JSON answer; only a failure later in the body has
    to cut the connection.
    """
    try:
        first = next(stream)
    except StopIteration:
        return iter(())
    except TransferAborted as exc:
        raise PeerError('the archive did not deliver the file intact: {}'.format(exc)) from None

    def chain():
        yield first
        yield from stream
    return chain()


class Files:
    """``GET``/``HEAD`` ``/files/<hashtype>/<hashsum>``."""

    exposed = True

    def __init__(self, peers, accel=False, verify=True):
        self.peers = peers
        self.accel = accel
        self.verify = verify

    @staticmethod
    def _target(path):
        if len(path) > 2:
            raise rest.not_found()
        if len(path) < 2:
            raise rest.not_found('Missing parameters: hashsum')
        return check_hash(path[0], path[1])

    def _lookup(self, path):
        hashtype, hashsum = self._target(path)
        record = self.peers.find_file(hashtype, hashsum)
        headers = cherrypy.response.headers
        headers['Content-Type'] = 'application/octet-stream'
        headers['ETag'] = '"{}"'.format(hashsum)
        return hashtype, hashsum, record

    @staticmethod
    def _name(record):
        """Name the download: only on an answer that is the file (or its headers), so that an
        error document is never saved under the file's name (curl -OJ, browsers)."""
        cherrypy.response.headers['Content-Disposition'] = content_disposition(record['name'])

    def _size(self, record):
        """The archive's size for the file, checked against metadata (unknown there: -1)."""
        size = self.peers.archive_size(record['_id'])
        if record['size'] >= 0 and size != record['size']:
            raise PeerError('the archive holds {} bytes for file {}, metadata says {}'.format(
                size, record['_id'], record['size']))
        return size

    def _accel(self, record):
        headers = cherrypy.response.headers
        headers['X-Accel-Redirect'] = '/archivei_accel/{}'.format(quote(str(record['_id'])))
        headers['Content-Length'] = '0'
        self._name(record)
        return b''

    def HEAD(self, *path, **_params):  # pylint: disable=invalid-name
        """The headers a GET would send, without reading the file."""
        _hashtype, _hashsum, record = self._lookup(path)
        if self.accel:
            return self._accel(record)
        size = self._size(record)
        cherrypy.response.headers['Accept-Ranges'] = 'bytes'
        cherrypy.response.headers['Content-Length'] = str(size)
        self._name(record)
        return b''

    def GET(self, *path, **_params):  # pylint: disable=invalid-name
        """Stream the file with that hash (200, or 206 for a single byte range)."""
        hashtype, hashsum, record = self._lookup(path)
        if self.accel:
            return self._accel(record)
        size = self._size(record)
        headers = cherrypy.response.headers
        headers['Accept-Ranges'] = 'bytes'
        wanted = byterange.single_range(cherrypy.request.headers.get('Range'), size)
        if wanted == byterange.UNSATISFIABLE:
            raise ServiceError('the requested range is outside the file ({} bytes)'.format(
                size), status=416, headers={'Content-Range': 'bytes */{}'.format(size)})
        start, stop = wanted if wanted else (None, None)
        resp = self.peers.open_stream(record['_id'], start, stop)
        cherrypy.response.stream = True
        reuse = sendfile.available()   # asked here, in the handler
        if wanted:
            # A part cannot be checked against the whole file's hash; its length is.
            body = primed(verified_stream(resp, stop - start, reuse=reuse))
            cherrypy.response.status = 206
            headers['Content-Range'] = 'bytes {}-{}/{}'.format(start, stop - 1, size)
            headers['Content-Length'] = str(stop - start)
        else:
            body = primed(verified_stream(resp, size, *((hashtype, hashsum) if self.verify
                                                         else ()), reuse=reuse))
            headers['Content-Length'] = str(size)
        self._name(record)
        return body


class Root(rest.StatusRoot):
    """``/`` and ``/files``."""

    title = 'Proxy'

    def __init__(self, peers, accel=False, verify=True):
        self.files = Files(peers, accel, verify)


def make_root(context):
    """The resource tree for a loaded config."""
    from .fetch import Peers  # pylint: disable=import-outside-toplevel
    conf = context.config
    return Root(Peers(conf), conf.get('nginx', 'accel'), conf.get('proxy', 'verify_hash'))

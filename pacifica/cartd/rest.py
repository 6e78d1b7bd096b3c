"""Cartd's HTTP API: one resource at ``/``, the cart uid is the single path segment.

``POST /<uid>`` creates a cart, ``HEAD /<uid>`` reports its status (and progress),
``GET /<uid>?filename=NAME`` downloads it as a tar, ``DELETE /<uid>`` removes it.
"""
import contextlib
import json
import logging
import os
import time
from urllib.parse import quote

import cherrypy
from cherrypy.lib import cptools, httputil

from pacifica.common import byterange, database, errors, rest, sendfile

from . import bundle, carts, lifecycle, tasks, validate, volume
from .orm import BUNDLING, BUSY, DB, ERROR, READY, STAGING, Cart

LOGGER = logging.getLogger(__name__)
ALLOW = 'DELETE, GET, HEAD, POST'
NOT_READY = 'The cart is not ready for download.'


def _add_allow():
    cherrypy.response.headers['Allow'] = ALLOW


def _header_text(text):
    """Header values are latin-1 on one line; anything else is replaced, not an error."""
    return ' '.join(str(text).split()).encode('latin-1', 'replace').decode('latin-1')


def content_disposition(name):
    """``attachment`` with an ASCII ``filename`` and, for other names, RFC 6266 ``filename*``."""
    ascii_name = name.encode('ascii', 'ignore').decode('ascii').replace('"', '') or 'download'
    value = 'attachment; filename="{}"'.format(ascii_name)
    if ascii_name != name:
        value += "; filename*=UTF-8''{}".format(quote(name, safe=''))
    return value


def _held_stream(lock, chunks, cart_id):
    """Stream ``chunks`` while holding the cart's shared lock; a client that disconnects
    closes this generator, which closes the file being read and drops the lock. The cart's
    last use (which protects it from the LRU purge) is recorded when the download ends:
    while it runs, the lock protects it, and the client does not wait for the write."""
    try:
        yield from chunks
    finally:
        close = getattr(chunks, 'close', None)
        if close:
            close()
        lock.close()
        _record_use(cart_id)


def _record_use(cart_id):
    # Also after a disconnect, when the request has already given its connection back.
    try:
        with DB.connection_context():
            carts.touch(cart_id)
    except database.TRANSIENT_ERRORS as exc:
        LOGGER.warning('cannot record the use of cart %s: %s', cart_id, exc)


# Seconds a DELETE waits for a download that is finishing before answering 409.
DELETE_GRACE = 1.0


class CartResource(rest.StatusRoot):
    """The cart API."""

    title = 'Cartd Interface'
    _cp_config = {'hooks.before_finalize': _add_allow}

    def __init__(self, context):
        conf = context.config
        self.volume = conf.get('cartd', 'volume_path')
        self.chunk_size = conf.get('cartd', 'transfer_size')
        self.default_bundle = conf.get('cartd', 'bundle_task')
        self.celery = tasks.app_for(context)

    @staticmethod
    def _uid(segments):
        if not segments:
            raise rest.not_found('Missing parameters: uid')
        if len(segments) > 1:
            raise rest.not_found()
        return validate.cart_uid(segments[0])

    # -- POST -------------------------------------------------------------------------------
    def POST(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Create a cart and start staging it."""
        uid = self._uid(segments)
        request = cherrypy.request
        ctype = request.headers.get('Content-Type', '').split(';')[0].strip().lower()
        if ctype not in ('application/json', 'text/javascript'):
            raise errors.ServiceError('POST a cart as Content-Type: application/json', 415)
        try:
            body = json.loads(request.body.read().decode('utf-8'))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise rest.bad_request('Invalid JSON document') from None
        # validate.Invalid is the common BadRequest: the one error handler answers it.
        files, bundle_flag = validate.cart_request(body, self.default_bundle)
        # Queued only after the cart is committed, so the worker always finds it; a broker
        # that is down fails the cart and answers 503 (lifecycle.BrokerUnavailable).
        lifecycle.start(uid, files, bundle_flag, self._begin)
        cherrypy.response.status = 201
        return rest.json_body({'message': 'Cart Processing has begun'})

    def _begin(self, cart_id):
        """Make the new cart's directory (exclusively: a leftover or a planted link fails
        the cart instead), then queue its work."""
        if carts.prepare_cart_dir(self.volume, cart_id):
            tasks.enqueue_cart(self.celery, cart_id)

    # -- HEAD -------------------------------------------------------------------------------
    def HEAD(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """``X-Pacifica-Status`` / ``X-Pacifica-Message``, plus ``X-Pacifica-Progress``."""
        uid = self._uid(segments)
        headers = cherrypy.response.headers
        cart = carts.newest_cart(uid)
        if cart is None:
            cherrypy.response.status = 404
            headers['X-Pacifica-Status'] = str(ERROR)
            headers['X-Pacifica-Message'] = _header_text('No cart with uid {} found'.format(uid))
            return b''
        # Clients poll "until status != staging" and then expect ready: the internal
        # bundling (and waiting) states must read as staging to them.
        headers['X-Pacifica-Status'] = str(STAGING if cart.status in BUSY else cart.status)
        headers['X-Pacifica-Message'] = _header_text(cart.error)
        staged, total, done_bytes, all_bytes = carts.progress(cart, self.volume)
        headers['X-Pacifica-Progress'] = '{}/{} files, {}/{} bytes{}'.format(
            staged, total, done_bytes, all_bytes,
            ', bundling' if cart.status == BUNDLING else '')
        cherrypy.response.status = 500 if cart.status == ERROR else 204
        return b''

    # -- GET --------------------------------------------------------------------------------
    def GET(self, *segments, filename=None, **_ignored):  # pylint: disable=invalid-name,arguments-differ
        """Download the cart as a tar (``filename`` names the download and the members'
        top directory)."""
        if not segments:
            return super().GET()
        uid = self._uid(segments)
        default = time.strftime('data_%Y_%m_%d_%H_%M_%S.tar')
        name, prefix = validate.download_name(filename, default)
        cart = carts.newest_cart(uid)
        if cart is None:
            raise rest.not_found('The cart does not exist or has already been deleted')
        if cart.status == ERROR:
            raise errors.Conflict('The cart cannot be downloaded: {}'.format(
                cart.error or 'staging failed'))
        if cart.status != READY:
            cherrypy.response.status = 202
            return rest.json_body({'message': NOT_READY})
        lock, cart_fd = self._hold(cart)
        try:
            if cart.bundle_path.endswith('.tar'):
                body = self._serve_bundle(cart_fd, cart.cart_uid + '.tar', name)
            else:
                body = self._serve_stream(cart_fd, cart.cart_uid, name, prefix)
        except BaseException:
            lock.close()
            raise
        return _held_stream(lock, body, cart.id)

    GET._cp_config = {'response.stream': True}

    def _hold(self, cart):
        """Take the cart's shared lock and make sure the cart was not deleted meanwhile;
        returns the lock and the descriptor of the cart directory (closed with the lock)."""
        stack = contextlib.ExitStack()
        try:
            cart_fd = stack.enter_context(bundle.cart_lock(self.volume, cart.id))
        except (FileNotFoundError, volume.Refused):
            raise rest.not_found('The cart does not exist or has already been deleted') from None
        current = Cart.get_or_none(Cart.id == cart.id)
        if current is None or current.deleted_date is not None:
            stack.close()
            raise rest.not_found('The cart does not exist or has already been deleted')
        return stack, cart_fd

    def _serve_bundle(self, cart_fd, tar_name, name):
        """The pre-built tar, with static-file semantics: Last-Modified and conditional GET,
        and one byte range (several ranges get the whole file, see
        :mod:`pacifica.common.byterange`)."""
        try:
            handle = os.fdopen(volume.open_file(cart_fd, tar_name, os.O_RDONLY), 'rb')
        except (FileNotFoundError, volume.Refused):
            raise rest.not_found('Not Found') from None
        try:
            size = os.fstat(handle.fileno()).st_size
            response = cherrypy.response
            response.headers['Last-Modified'] = httputil.HTTPDate(
                os.fstat(handle.fileno()).st_mtime)
            cptools.validate_since()   # 304 / 412 for conditional requests
            response.headers['Content-Type'] = 'application/octet-stream'
            response.headers['Content-Disposition'] = content_disposition(name)
            response.headers['Accept-Ranges'] = 'bytes'
            wanted = byterange.single_range(cherrypy.request.headers.get('Range'), size)
            if wanted == byterange.UNSATISFIABLE:
                raise errors.ServiceError(
                    'the range cannot be satisfied: the bundle has {} bytes'.format(size),
                    status=416, headers={'Content-Range': 'bytes */{}'.format(size)})
            start, stop = wanted or (0, size)
            if wanted:
                response.status = 206
                response.headers['Content-Range'] = 'bytes {}-{}/{}'.format(
                    start, stop - 1, size)
            response.headers['Content-Length'] = str(stop - start)
            # Sent with sendfile where the server can, else read in transfer_size blocks;
            # the file is closed as soon as the response ends.
            return sendfile.file_body(handle, start, stop - start, self.chunk_size)
        except BaseException:
            handle.close()
            raise

    def _serve_stream(self, cart_fd, files_name, name, prefix):
        """The cart directory as a tar made on the fly, members under ``<prefix>/``."""
        try:
            members = bundle.plan(cart_fd, files_name, prefix)
        except (FileNotFoundError, volume.Refused):
            raise rest.not_found('Not Found') from None
        headers = cherrypy.response.headers
        headers['Content-Type'] = 'application/octet-stream'
        headers['Content-Disposition'] = content_disposition(name)
        # Known in advance, so a client can tell a complete download from a cut one.
        headers['Content-Length'] = str(bundle.tar_size(members))
        return bundle.stream(members, cart_fd, self.chunk_size, regions=sendfile.available())

    # -- DELETE -----------------------------------------------------------------------------
    def DELETE(self, *segments, **_ignored):  # pylint: disable=invalid-name
        """Delete every active cart with the uid, unless one of them is in use."""
        uid = self._uid(segments)
        active = carts.active_carts(uid)
        if not active:
            raise rest.not_found('Not Found')
        for cart in active:   # none is touched while one of them is busy (409)
            lifecycle.check_removable(cart)
        for cart in active:
            # A client that deletes right after its download has every byte before the
            # server's side of the download lets go of the cart: wait that long, no more.
            carts.delete_cart(cart, self.volume, grace=DELETE_GRACE)   # 409 / 500 (RemoveFailed)
        return rest.json_body({'message': 'Cart Deleted Successfully'})


def make_root(context):
    """The resource tree."""
    return CartResource(context)


"""Finding a file by its hash in metadata and reading its bytes from the archive interface.

Nothing here knows about HTTP responses to our own client: failures are exceptions that
carry the status the proxy should answer with (404 not found, 502 a peer answered badly,
503 a peer cannot be reached), and the bytes come out of :func:`verified_stream`, which
never lets a client receive a complete-looking file whose length or hash is wrong.
"""
import contextlib
import hashlib
import http.client
import itertools
import logging
import queue
import threading
import time

import requests
import urllib3

from pacifica.common import metrics
from pacifica.common.errors import BadRequest, NotFound, ServiceError, Unavailable
from pacifica.common.sendfile import BufferChunk

LOGGER = logging.getLogger(__name__)

CHUNK = 1024 * 1024

# Algorithms a hash segment may name, with the length of their hex digest. The variable
# length SHAKE functions are left out: a digest length cannot be checked for them.
HASH_HEX_LENGTHS = {
    name: hashlib.new(name).digest_size * 2
    for name in sorted(hashlib.algorithms_guaranteed) if not name.startswith('shake_')
}


class PeerError(ServiceError):
    """Metadata or the archive answered badly: 502 unless told otherwise (504 too slow).
    A peer that cannot be reached is the shared :class:`Unavailable` (503, Retry-After), a
    missing file or a malformed hash the shared :class:`NotFound` / :class:`BadRequest`."""

    status = 502


class TransferAborted(Exception):
    """Raised inside the body stream: the client's connection is cut, never completed."""


def check_hash(hashtype, hashsum):
    """Validate the two path segments; returns ``(hashtype, hashsum)`` in lower case, the
    case metadata stores them in (an upper-case sum is the same sum)."""
    algorithm = hashtype.lower()
    if algorithm not in HASH_HEX_LENGTHS:
        raise BadRequest('unknown hash type {!r}; use one of {}'.format(
            hashtype[:32], ', '.join(HASH_HEX_LENGTHS)))
    length = HASH_HEX_LENGTHS[algorithm]
    digits = hashsum.lower()
    if len(digits) != length or not all(c in '0123456789abcdef' for c in digits):
        raise BadRequest('a {} hash sum is {} hexadecimal digits, got {!r}'.format(
            algorithm, length, hashsum[:140]))
    return algorithm, digits


def content_disposition(name):
    """``attachment`` with a safe ASCII ``filename`` and, when the name needs it, the exact
    name as RFC 6266 / RFC 5987 ``filename*=UTF-8''...``. Only the base name is used."""
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel
    base = str(name).replace('\\', '/').rsplit('/', 1)[-1]
    base = ''.join(c for c in base if c.isprintable()) or 'download'
    fallback = ''.join(c if ' ' <= c <= '~' and c not in '"\\' else '_' for c in base)
    value = 'attachment; filename="{}"'.format(fallback)
    if fallback != base:
        value += "; filename*=UTF-8''" + quote(base, safe='')
    return value


class Peers:
    """The metadata service and the archive interface, as the proxy calls them."""

    def __init__(self, config):
        self.metadata_url = config.get('metadata', 'url').rstrip('/')
        self.archive_url = config.get('archiveinterface', 'url').rstrip('/')
        self.timeout = config.get('proxy', 'timeout')
        self._local = threading.local()

    @property
    def session(self):
        """One keep-alive session per server thread."""
        if not hasattr(self._local, 'session'):
            self._local.session = requests.Session()
        return self._local.session

    def _get(self, what, url, **kwargs):
        try:
            return self.session.get(url, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as exc:
            raise Unavailable('{} cannot be reached at {}'.format(what, url)) from exc
        except requests.Timeout as exc:
            raise PeerError('{} did not answer within {} s'.format(what, self.timeout),
                            status=504) from exc
        except requests.RequestException as exc:
            raise PeerError('{} request failed: {}'.format(what, exc)) from exc

    def find_file(self, hashtype, hashsum):
        """The metadata record for a hash; with several, the lowest ``_id`` (deterministic)."""
        resp = self._get('the metadata service', self.metadata_url + '/files',
                         params={'hashsum': hashsum, 'hashtype': hashtype})
        if resp.status_code != 200:
            raise PeerError('the metadata service answered {} to the file lookup'.format(
                resp.status_code))
        try:
            files = resp.json()
            files = [f for f in files if isinstance(f, dict)]
            best = min(files, key=lambda f: int(f['_id'])) if files else None
            if best is not None:
                record = {'_id': int(best['_id']), 'name': str(best.get('name', '')),
                          'size': int(best.get('size', -1))}
        except (ValueError, TypeError, KeyError) as exc:
            raise PeerError('the metadata service sent an unusable file list') from exc
        if best is None:
            raise NotFound('File does not exist.')
        return record

    def _archive_status(self, resp, file_id):
        if resp.status_code == 404:
            raise NotFound('file {} is not in the archive'.format(file_id))
        if not 200 <= resp.status_code < 300:
            raise PeerError('the archive interface answered {} for file {}'.format(
                resp.status_code, file_id))

    def archive_size(self, file_id):
        """The size the archive reports (HEAD ``X-Content-Length``)."""
        try:
            resp = self.session.head('{}/{}'.format(self.archive_url, file_id),
                                     timeout=self.timeout)
        except requests.ConnectionError as exc:
            raise Unavailable('the archive interface cannot be reached') from exc
        except requests.RequestException as exc:
            raise PeerError('the archive interface HEAD failed: {}'.format(exc)) from exc
        self._archive_status(resp, file_id)
        try:
            return int(resp.headers['X-Content-Length'])
        except (KeyError, ValueError) as exc:
            raise PeerError('the archive interface sent no usable X-Content-Length for '
                            'file {}'.format(file_id)) from exc

    def open_stream(self, file_id, start=None, stop=None):
        """GET the file (``[start, stop)`` with the archive's ``byte_range``), status checked."""
        params = {'byte_range': '{}-{}'.format(start, stop)} if start is not None else None
        resp = self._get('the archive interface', '{}/{}'.format(self.archive_url, file_id),
                         params=params, stream=True)
        try:
            self._archive_status(resp, file_id)
        except PeerError:
            resp.close()
            raise
        return resp


class _Hasher:
    """Hash blocks on a thread of its own, so that hashing one block overlaps receiving and
    sending the next (hashlib lets go of the GIL while it hashes a large block)."""

    DEPTH = 8   # blocks in flight: bounds the memory a slow hash can hold

    def __init__(self, hashtype):
        self.digest = hashlib.new(hashtype)
        self.blocks = queue.Queue(self.DEPTH)
        self.hashed = threading.Semaphore(0)   # released once per block hashed
        self.thread = threading.Thread(target=self._run, name='proxy-hash', daemon=True)
        self.thread.start()

    def _run(self):
        while True:
            block = self.blocks.get()
            if block is None:
                return
            self.digest.update(block)
            self.hashed.release()

    def add(self, block):
        """Queue ``block`` for hashing (waits while DEPTH blocks are queued)."""
        self.blocks.put(block)

    def hexdigest(self):
        """The digest of every block added, once the thread has hashed them all."""
        self.blocks.put(None)
        self.thread.join()
        return self.digest.hexdigest()

    def cancel(self):
        """Stop the thread (the transfer is being abandoned)."""
        if self.thread.is_alive():
            with contextlib.suppress(queue.Empty):
                while True:   # make room, then tell it to stop
                    self.blocks.get_nowait()
            self.blocks.put(None)
            self.thread.join()


def _body_reader(resp):
    """``readinto(buffer)`` of the archive response's body (raw bytes, at most
    ``len(buffer)``, 0 at its end), or None when ``resp`` does not sit on an
    :class:`http.client.HTTPResponse` (urllib3's ``_fp``, which requests' ``stream=True``
    leaves unread). Reading into our own buffers saves allocating (and page-faulting) a
    fresh ``bytes`` per block."""
    body = getattr(getattr(resp, 'raw', None), '_fp', None)
    return body.readinto if isinstance(body, http.client.HTTPResponse) else None


def _blocks(resp, length, chunk, hasher, reuse):
    """The archive body in blocks of up to ``chunk`` bytes.

    With ``reuse`` (the server sends a :class:`BufferChunk` before it asks for the next
    block) the bytes are read into at most ``_Hasher.DEPTH`` buffers taken in turn (made
    as needed, no larger than the ``length`` expected plus the one byte that shows a
    surplus): a buffer is filled again only once the hasher has hashed the block it held
    (one ``hashed`` permit per block) and the server has sent it (which it did
    ``DEPTH - 1`` blocks earlier). Otherwise each block is a new ``bytes``.
    """
    readinto = _body_reader(resp) if reuse else None
    if readinto is None:
        yield from resp.raw.stream(chunk, decode_content=False)
        return
    ring, size = [], min(chunk, length + 1)
    for index in itertools.count():
        if index < _Hasher.DEPTH:
            ring.append(memoryview(bytearray(size)))
        elif hasher is not None:
            hasher.hashed.acquire()   # the block this buffer held (index - DEPTH) is hashed
        view = ring[index % _Hasher.DEPTH]
        count = readinto(view)
        if not count:
            return
        yield view[:count]


def verified_stream(resp, length, hashtype=None, hashsum=None, chunk=CHUNK, reuse=False):
    """Yield exactly ``length`` bytes from an archive response, or cut the transfer.

    The last block is held back until the whole body has been counted and, with
    ``hashtype``, hashed: a short, long or corrupt file raises :class:`TransferAborted`
    before the client has its final bytes, so no download ever looks complete when it
    is wrong. The archive response is closed however the stream ends (including a client
    that goes away). With ``reuse`` (decided in the handler: the server takes
    :class:`BufferChunk`) the blocks are :class:`BufferChunk` of reused buffers.
    """
    hasher = _Hasher(hashtype) if hashtype else None
    received, held = 0, None
    started = time.monotonic()
    try:
        for block in _blocks(resp, length, chunk, hasher, reuse):
            if not block:
                continue
            received += len(block)
            if received > length:
                raise TransferAborted('archive sent more than {} bytes'.format(length))
            if hasher is not None:
                hasher.add(block)
            if held is not None:
                yield held
            held = BufferChunk(block) if isinstance(block, memoryview) else block
        if received != length:
            raise TransferAborted('archive sent {} of {} bytes'.format(received, length))
        if hasher is not None:
            digest, hasher = hasher.hexdigest(), None
            if digest != hashsum.lower():
                raise TransferAborted('{} of the archive bytes is {}, metadata says {}'.format(
                    hashtype, digest, hashsum))
        if held is not None:
            yield held
        LOGGER.debug('streamed %d bytes in %.3f s', received, time.monotonic() - started)
        metrics.inc('pacifica_proxy_sent_bytes_total', received)
    except TransferAborted as exc:
        metrics.inc('pacifica_proxy_hash_failures_total')
        LOGGER.error('transfer aborted: %s', exc)
        raise
    except (requests.RequestException, urllib3.exceptions.HTTPError, http.client.HTTPException,
            OSError) as exc:
        # urllib3's own errors: its stream() (the path under uWSGI) raises ProtocolError for
        # an archive that hangs up short of its Content-Length
        LOGGER.error('transfer aborted: archive stream failed: %s', exc)
        raise TransferAborted(str(exc)) from exc
    finally:
        if hasher is not None:
            hasher.cancel()
        resp.close()


def wait_for_metadata(url, attempts, wait, sleep=time.sleep):
    """Probe ``url`` until it answers 200: at most ``attempts + 1`` tries ``wait`` seconds
    apart (upstream's ``try_meta_connect``, as a loop). Raises the last error."""
    last = None
    for attempt in range(max(0, attempts) + 1):
        try:
            resp = requests.get(url, timeout=10)
            if resp.status_code == 200:
                return
            last = PeerError('{} answered {}'.format(url, resp.status_code), status=503)
        except requests.RequestException as exc:
            last = exc
        if attempt < attempts:
            LOGGER.warning('waiting for metadata at %s (%d/%d): %s', url, attempt + 1,
                           attempts, last)
            sleep(wait)
    raise last

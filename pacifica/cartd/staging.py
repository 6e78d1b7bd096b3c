"""Staging one file and finishing a cart: the work behind the Celery tasks and ``fixit``.

Every step is idempotent, so a task that runs twice (redelivered after a worker died, or
re-driven after its message was lost) does no harm:

* a file already ``staged`` or ``error`` is skipped;
* a download goes to a temporary name and is renamed into place only when its hash matched;
* exactly one caller bundles a cart: the ``staging`` → ``bundling`` transition is a single
  conditional UPDATE that also requires every file to be staged, so it succeeds once;
* the tar is written under a temporary name and renamed; ``ready`` is set after that.

Failures come in two kinds (see :mod:`.archive`): :class:`Transient` ones propagate so the
caller can retry with back-off; terminal ones mark the file and its cart ``error`` here.
"""
import contextlib
import errno
import logging
import os
import time
import uuid
from collections import defaultdict, namedtuple
from concurrent.futures import ThreadPoolExecutor

from pacifica.common import metrics
from pacifica.common.fsutil import fsync_path

from . import bundle, carts, directio, volume
from .archive import ArchiveClient, Terminal, Transient
from . import lifecycle
from .orm import Cart, File
from .states import FILE_DONE, CartStatus

LOGGER = logging.getLogger(__name__)

# A file on the volume, renamed into place, not yet recorded as staged.
Pulled = namedtuple('Pulled', 'file_id cart_id path')
# A file's row (with its cart) and the archive's status of it, asked ahead (Stager.survey).
Surveyed = namedtuple('Surveyed', 'row status')
HEARTBEAT_EVERY = 20.0   # seconds between updated_date bumps during long work
MAX_POLL_DELAY = 60.0    # longest wait between two status checks of a file on tape


class Stager:
    """Staging work with one config and one archive session (one per process)."""

    def __init__(self, config, client=None, holdings=None):
        # ``holdings``: the claims of this process (see :mod:`.claims`); None stages
        # without claims (the tests drive files one at a time).
        self.holdings = holdings
        self.claim_timeout = config.get('cartd', 'claim_timeout')
        self.volume = config.get('cartd', 'volume_path')
        self.chunk_size = config.get('cartd', 'transfer_size')
        self.lru_purge = config.get('cartd', 'lru_purge')
        self.lru_buffer = config.get('cartd', 'lru_buffer_time')
        self.poll_max_wait = config.get('cartd', 'poll_max_wait')
        self.redrive_after = config.get('cartd', 'redrive_after')
        self.client = client or ArchiveClient(config.get('archiveinterface', 'url'),
                                              config.get('archiveinterface', 'timeout'),
                                              self.chunk_size)
        self.heartbeat_every = min(HEARTBEAT_EVERY, max(0.5, self.redrive_after / 3.0))
        self.syncer = Syncer()
        self._write_buffer = None

    def write_buffer(self):
        """This process's buffer for writing downloads (:mod:`.directio`), made once."""
        if self._write_buffer is None:
            self._write_buffer = directio.aligned_buffer()
        return self._write_buffer

    # -- carts ------------------------------------------------------------------------------
    def pending_files(self, cart_id):
        """Ids of the files of a staging cart still to do; None when the cart needs no work.

        A cart with nothing left to stage is finished here (that is how an empty cart, or
        a re-driven one whose files are all done, reaches ``ready``).
        """
        cart = Cart.get_or_none(Cart.id == cart_id)
        if cart is None or cart.deleted_date is not None or cart.status != CartStatus.STAGING:
            return None
        failed = lifecycle.first_failed_file(cart_id)
        if failed is not None:
            lifecycle.fail_cart(cart_id, lifecycle.cart_error(failed.error))
            return None
        pending = lifecycle.files_to_do(cart_id)
        if not pending:
            self.finish(cart_id)
            return None
        return pending

    def finish(self, cart_id):
        """Bundle the cart if every file is staged and nobody else is bundling it.

        Whatever goes wrong while bundling (a full disk, a tree too deep, a bug) ends the
        cart in ``error``: a cart never stays ``bundling``.
        """
        if not lifecycle.claim_bundling(cart_id, self.worker):
            return False
        if self.holdings:
            self.holdings.hold_cart(cart_id)
        cart = Cart.get_by_id(cart_id)
        try:
            path = self._bundle(cart)
        except Exception as exc:  # pylint: disable=broad-except
            LOGGER.exception('bundling cart %s failed', cart_id)
            text = _os_text(exc) if isinstance(exc, OSError) else '{}: {}'.format(
                type(exc).__name__, exc)
            lifecycle.fail_cart(cart_id, 'Failed to bundle the cart: {}'.format(text))
            self._finished(cart_id=cart_id)
            return False
        lifecycle.mark_ready(cart_id, path)
        self._finished(cart_id=cart_id)
        LOGGER.info('cart %s bundled and ready', cart_id)
        if cart.bundle:
            # Only now: until the cart is ready, a re-run of the bundling needs the files.
            with contextlib.suppress(OSError):
                bundle.remove_files_dir(self.volume, cart.id, cart.cart_uid)
        return True

    def _bundle(self, cart):
        root = bundle.files_dir(self.volume, cart.id, cart.cart_uid)
        bundle.make_files_dir(self.volume, cart.id, cart.cart_uid)   # an empty cart has none
        if not cart.bundle:
            bundle.link_uid(self.volume, cart.id, cart.cart_uid, cart.cart_uid)
            return root
        bundle.link_uid(self.volume, cart.id, cart.cart_uid, cart.cart_uid + '.tar')
        beat = _Heartbeat(cart.id, self.heartbeat_every)
        return bundle.write_bundle(self.volume, cart.id, cart.cart_uid, self.chunk_size, beat)

    # -- files ------------------------------------------------------------------------------
    def survey(self, file_ids):
        """Read the rows of files about to be staged one after the other and ask the archive
        for their status, then announce the sizes of those on disk in one transaction per
        cart (:func:`.lifecycle.announce_sizes`: HEAD reports them from then on). Returns
        ``{file id: Surveyed}`` for :meth:`advance`; a file whose status cannot be had now
        is left out, and :meth:`advance` asks again and handles the failure.
        """
        surveyed = {}
        query = File.select(File, Cart).join(Cart).where(File.id.in_(list(file_ids)))
        for row in query:
            if row.cart.deleted_date is not None or row.cart.status != CartStatus.STAGING \
                    or row.status in FILE_DONE:
                continue
            try:
                surveyed[row.id] = Surveyed(row, self.client.status(row.archive_id))
            except (Terminal, Transient):
                continue
        sizes = defaultdict(dict)
        for entry in surveyed.values():
            if entry.status.on_disk:
                sizes[entry.row.cart_id][entry.row.id] = entry.status.size
        for cart_id, announced in sizes.items():
            lifecycle.announce_sizes(cart_id, announced)
        return surveyed

    def advance(self, file_id, started, attempt, pulled=None, claimed=False, surveyed=None):
        """Take one file as far as it can go now (claiming it first, unless ``claimed``
        says the caller already holds it; a file another live process holds is left alone).

        Returns None when there is nothing more to do for it (staged, failed, or its cart
        is gone), or the seconds to wait before checking again (the archive is still
        bringing the file to disk). Transient failures propagate; terminal ones mark the
        file and cart ``error``. With a ``pulled`` list, a file that is now on the volume is
        appended to it as a :class:`Pulled` for :meth:`mark_staged` to make durable and
        record together with others, instead of at once. ``surveyed``: the file's
        :class:`Surveyed` from :meth:`survey` (its row and status are not asked again).
        """
        if surveyed is not None:
            row = surveyed.row
        else:
            row = (File.select(File, Cart).join(Cart).where(File.id == file_id).first())
        if row is None:
            return None
        cart = row.cart
        if cart.deleted_date is not None or cart.status != CartStatus.STAGING:
            return None
        if row.status in FILE_DONE:
            self.finish(cart.id)
            return None
        if self.holdings and not claimed and not self.holdings.claim([file_id]):
            return None
        try:
            status = surveyed.status if surveyed is not None else \
                self.client.status(row.archive_id)
            if not status.on_disk and attempt == 0:
                # Only a file that is not on disk needs a stage request (a recall from
                # tape); asking for files already there would double the archive's load.
                self.client.stage(row.archive_id)
                status = self.client.status(row.archive_id)
            if not status.on_disk:
                if time.time() - started >= self.poll_max_wait:
                    raise Terminal('file {} did not reach disk in the archive within {} s '
                                   '(media {!r})'.format(row.archive_id, self.poll_max_wait,
                                                         status.media))
                carts.touch(cart.id)   # waiting on tape is progress, not a lost task
                self._release(file_id)   # whoever runs the next poll claims it
                # Poll well within redrive_after, or the cart would look abandoned.
                return min(MAX_POLL_DELAY, self.redrive_after / 3.0, 0.5 * 2 ** attempt)
            if surveyed is None or not surveyed.status.on_disk:   # not announced yet
                lifecycle.announce_sizes(cart.id, {row.id: status.size})
            target = self._pull(row, cart, status)
        except Terminal as exc:
            metrics.observe('pacifica_cartd_staging_seconds', time.time() - started, result='error')
            self.fail(file_id, str(exc))
            return None
        except Transient:
            carts.touch(cart.id)   # a retry is coming: the cart is not abandoned
            self._release(file_id)   # ... in a later message, which claims it again
            raise
        metrics.observe('pacifica_cartd_staging_seconds', time.time() - started, result='staged')
        metrics.inc('pacifica_cartd_staged_bytes_total', status.size)
        done = Pulled(file_id, cart.id, target)
        if pulled is not None:
            self.syncer.start(target)   # on its way to the disk while the next downloads
            pulled.append(done)
        else:
            self.mark_staged([done])
        return None

    def mark_staged(self, pulled):
        """Make pulled files (renamed into place) durable and record them as staged, in one
        fsync pass and one transaction, then finish their carts if they are complete.

        Until this commits, such a file still counts as to do: a worker that dies first
        leaves it to be pulled again, which is harmless. A file that cannot be synced stays
        to do (its cart is re-driven once it makes no progress).
        """
        synced = _sync_files(pulled, self.syncer)
        if len(synced) < len(pulled):
            self._release([entry.file_id for entry in pulled if entry not in synced])
        if not synced:
            return
        cart_ids = sorted({entry.cart_id for entry in synced})
        lifecycle.mark_staged([entry.file_id for entry in synced], cart_ids)
        self._finished([entry.file_id for entry in synced])
        for cart_id in cart_ids:
            self.finish(cart_id)

    def fail(self, file_id, message):
        """Mark a file ``error`` and its cart ``error`` with a short message."""
        lifecycle.fail_file(file_id, message)
        self._finished([file_id])

    @property
    def worker(self):
        """The name this process claims under (None without claims)."""
        return self.holdings.name if self.holdings else None

    def _release(self, file_ids):
        """Give up this process's claim on files it stops working on for now."""
        if self.holdings:
            ids = file_ids if isinstance(file_ids, (list, tuple, set)) else [file_ids]
            self.holdings.release(ids)

    def _finished(self, file_ids=(), cart_id=None):
        if self.holdings:
            self.holdings.finished(file_ids, cart_id)

    def _pull(self, row, cart, status):
        """Download a file into ``partial~`` and rename it into place; every directory on
        the way is opened without following links (see :mod:`.volume`)."""
        parts = row.bundle_path.split('/')
        try:
            cart_fd = volume.open_cart_dir(self.volume, cart.id, create=True)
        except OSError as exc:
            raise Terminal('Failed directory create with error: {}'.format(
                _os_text(exc))) from None
        with volume.opened(cart_fd):
            try:
                parent_fd = volume.open_path(cart_fd, [cart.cart_uid] + parts[:-1], create=True)
            except OSError as exc:
                raise Terminal('Failed directory create with error: {}'.format(
                    _os_text(exc))) from None
            with volume.opened(parent_fd):
                try:
                    partial_fd = volume.open_dir(cart_fd, bundle.PARTIAL, create=True,
                                                 mode=volume.PRIVATE)
                except OSError as exc:
                    raise Terminal('Failed directory create with error: {}'.format(
                        _os_text(exc))) from None
                with volume.opened(partial_fd):
                    self._download(row, cart, status, partial_fd, (parent_fd, parts[-1]))
        return os.path.join(bundle.files_dir(self.volume, cart.id, cart.cart_uid),
                            row.bundle_path)

    def _download(self, row, cart, status, partial_fd, target):
        temp = '{}-{}'.format(row.id, uuid.uuid4().hex)
        try:
            fd = volume.open_file(partial_fd, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            try:
                handle = directio.DirectWriter(fd, self.write_buffer(), status.size)
                self._reserve(handle, status.size, cart.id)
                self.client.pull(row.archive_id, handle, row.hash_type or 'md5',
                                 row.hash_value or '', status.size,
                                 heartbeat=_Heartbeat(cart.id, self.heartbeat_every))
                handle.flush()
                os.utime(fd, (status.mtime, status.mtime))
            finally:
                os.close(fd)
            os.rename(temp, target[1], src_dir_fd=partial_fd, dst_dir_fd=target[0])
        except OSError as exc:
            _remove_at(partial_fd, temp)
            if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                raise Terminal('Not enough space to download file {} ({} bytes) to the cart '
                               'volume'.format(row.archive_id, status.size)) from None
            raise Terminal('Failed to write file {} to the cart volume: {}'.format(
                row.archive_id, _os_text(exc))) from None
        except BaseException:
            _remove_at(partial_fd, temp)
            raise

    def _reserve(self, handle, size, cart_id):
        """Allocate the file's blocks before downloading, so concurrent pulls cannot
        overcommit the volume; purge least recently used carts when it is full.

        A file larger than the whole volume fails at once, and the purge deletes nothing
        unless it can make enough room (see :func:`.carts.purge_for_space`)."""
        if size > carts.capacity_bytes(self.volume):
            raise Terminal('file of {} bytes cannot fit in the cart volume even when it is '
                           'empty ({} bytes); no cart was purged'.format(
                               size, carts.capacity_bytes(self.volume)))
        if size <= 0 or not hasattr(os, 'posix_fallocate'):
            return
        try:
            os.posix_fallocate(handle.fileno(), 0, size)
            return
        except OSError as exc:
            if exc.errno in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
                return   # the filesystem cannot reserve; ENOSPC is still caught on write
            if exc.errno not in (errno.ENOSPC, errno.EDQUOT):
                raise
        if not self.lru_purge:
            raise Terminal('Not enough space to download file ({} bytes) to the cart '
                           'volume (lru_purge is off)'.format(size))
        if not carts.purge_for_space(self.volume, size, cart_id, self.lru_buffer,
                                     LOGGER.warning):
            raise Terminal('Not enough space to download file ({} bytes) to the cart volume: '
                           'free space and the finished carts unused for {} s would not make '
                           'room; no cart was purged'.format(size, self.lru_buffer))
        os.posix_fallocate(handle.fileno(), 0, size)


class _Heartbeat:
    """Bump the cart's ``updated_date`` at most every ``every`` seconds while working."""

    def __init__(self, cart_id, every):
        self.cart_id = cart_id
        self.every = every
        self.last = time.monotonic()

    def __call__(self):
        if time.monotonic() - self.last >= self.every:
            self.last = time.monotonic()
            carts.touch(self.cart_id)


class Syncer:
    """fsyncs pulled files in a background thread of this process, so a file's data goes
    to the disk while the next file downloads and is hashed (fsync waits for the disk
    without holding the GIL), instead of all of a batch's after its last download.

    :meth:`wait` is what makes a file durable: only a file whose fsync returned is recorded
    staged. The thread is made on first use in each process (a forked worker gets its own).
    """

    def __init__(self):
        self.pid = None
        self.executor = None
        self.pending = {}

    def start(self, path):
        """Begin syncing ``path`` in the background."""
        if self.pid != os.getpid():
            self.pid, self.pending = os.getpid(), {}
            self.executor = ThreadPoolExecutor(1, thread_name_prefix='cartd-fsync')
        self.pending[path] = self.executor.submit(_fsync_identity, path)

    def wait(self, path):
        """Return once ``path`` is synced (syncing it now if it was not started); raises
        the OSError of its fsync, or FileNotFoundError if what is at ``path`` now is not
        the file that was synced (it vanished or was replaced since)."""
        future = self.pending.pop(path, None) if self.pid == os.getpid() else None
        if future is None:
            fsync_path(path)
            return
        synced = future.result()
        info = os.lstat(path)
        if (info.st_dev, info.st_ino) != synced:
            raise FileNotFoundError(errno.ENOENT, 'replaced since it was synced', path)


def _fsync_identity(path):
    """fsync the file at ``path``; returns its (device, inode)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
        info = os.fstat(fd)
        return info.st_dev, info.st_ino
    finally:
        os.close(fd)


def _sync_files(pulled, syncer):
    """Wait for the fsync of each :class:`Pulled` file, then fsync the directories holding
    them; returns the entries that are durable."""
    synced = []
    for entry in pulled:
        try:
            syncer.wait(entry.path)
        except OSError as exc:
            LOGGER.warning('cannot sync staged file %s: %s; it will be pulled again',
                           entry.path, _os_text(exc))
            continue
        synced.append(entry)
    for directory in sorted({os.path.dirname(entry.path) for entry in synced}):
        with contextlib.suppress(OSError):
            fsync_path(directory)
    return synced


def _os_text(exc):
    return exc.strerror or str(exc)


def _remove_at(dir_fd, name):
    with contextlib.suppress(OSError):
        os.unlink(name, dir_fd=dir_fd)


def backoff(retries):
    """Seconds before retry number ``retries + 1``: 1, 2, 4, ... capped at a minute."""
    return min(60.0, 2.0 ** retries)


def stage_synchronously(stager, file_id, retries, report=print):
    """Drive one file to staged or error in this process (``fixit``): poll with back-off
    up to the maximum wait, retry transient failures ``retries`` times."""
    started = time.time()
    attempt = failures = 0
    while True:
        try:
            wait = stager.advance(file_id, started, attempt)
        except Transient as exc:
            failures += 1
            if failures > retries:
                stager.fail(file_id, str(exc))
                return
            report('  transient failure ({}); retrying in {:.0f} s'.format(exc, backoff(failures)))
            time.sleep(backoff(failures))
            continue
        if wait is None:
            return
        attempt += 1
        time.sleep(wait)

"""The cart volume on disk: directory layout, tar streams, bundles and cart locks.

Layout (upstream's)::

    <volume>/<cart.id>/<cart_uid>/<path>     staged files
    <volume>/<cart.id>/<cart_uid>.tar        the pre-built bundle (bundle=true)
    <volume>/cartuids/<cart_uid>  ->  ../<cart.id>/<cart_uid>[.tar]

plus, ours, names containing ``~`` (which no uid may contain, so nothing can clash):
``<cart.id>/partial~/`` for downloads in progress, ``<cart.id>/sizes~`` for the sizes the
archive announced (progress reporting; written before schema 2.2, which keeps them in the
database, and still read for the carts staged then) and ``<cart.id>/lock~`` (see
:func:`cart_lock`).
Every one of them is opened through :mod:`.volume`: relative to its directory's descriptor,
never through a symbolic link.

The tar is produced by a generator: headers are built with :mod:`tarfile` and file data is
read in ``transfer_size`` chunks, so a download needs no temporary file and no thread, and a
client that goes away simply stops the generator (its ``finally`` closes the files).
"""
import contextlib
import errno
import fcntl
import grp
import os
import pwd
import stat
import tarfile
import time
import uuid

from pacifica.common import sendfile

from . import volume as vol

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
# Smaller members are copied into the stream: a separate sendfile per small file costs more
# than the copy it saves.
REGION_MIN = 256 * 1024
LINKS = 'cartuids'
LOCK, PARTIAL, SIZES = 'lock~', 'partial~', 'sizes~'


class CartBusy(Exception):
    """The cart is in use (being downloaded) and cannot be removed now."""


class BundleError(OSError):
    """The cart's files cannot be made into a tar (the message says which and why)."""


def cart_dir(volume, cart_id):
    """``<volume>/<cart.id>``."""
    return os.path.join(vol.root_path(volume), str(cart_id))


def files_dir(volume, cart_id, uid):
    """``<volume>/<cart.id>/<uid>``: where staged files live."""
    return os.path.join(cart_dir(volume, cart_id), uid)


def tar_path(volume, cart_id, uid):
    """``<volume>/<cart.id>/<uid>.tar``: the pre-built bundle."""
    return os.path.join(cart_dir(volume, cart_id), uid + '.tar')


def make_files_dir(volume, cart_id, uid):
    """Make ``<cart.id>/<uid>`` if it is missing (an empty cart has none yet)."""
    with vol.opened(vol.open_cart_dir(volume, cart_id, create=True)) as cart_fd:
        os.close(vol.open_dir(cart_fd, uid, create=True))


def remove_files_dir(volume, cart_id, uid):
    """Remove ``<cart.id>/<uid>`` (a bundle cart's files, once its tar is ready)."""
    with vol.opened(vol.open_cart_dir(volume, cart_id)) as cart_fd:
        vol.remove_tree(cart_fd, uid)


# -- locks -----------------------------------------------------------------------------------
@contextlib.contextmanager
def cart_lock(volume, cart_id, exclusive=False, grace=0.0):
    """Hold the cart's lock file: shared while streaming, exclusive to remove; yields the
    descriptor of the cart directory (valid while the lock is held).

    ``flock`` is per open file and is dropped by the kernel when the holder dies, so a
    crashed download never keeps a cart pinned. An exclusive request waits at most
    ``grace`` seconds (a download whose client already has the last byte lets go within
    milliseconds), then raises CartBusy. A missing cart directory raises
    FileNotFoundError, a link where the directory or the lock file should be
    :class:`~.volume.Refused`.
    """
    with vol.opened(vol.open_cart_dir(volume, cart_id)) as cart_fd:
        lock = vol.open_file(cart_fd, LOCK, os.O_RDWR | os.O_CREAT)
        with vol.opened(lock):
            if exclusive:
                _lock_exclusive(lock, cart_id, grace)
            else:
                fcntl.flock(lock, fcntl.LOCK_SH)
            yield cart_fd


def _lock_exclusive(lock, cart_id, grace):
    deadline = time.monotonic() + grace
    pause = 0.005
    while True:
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise CartBusy('cart {} is being downloaded'.format(cart_id)) from None
        time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
        pause = min(pause * 2, 0.1)


def remove_cart_files(volume, cart_id, uid):
    """Remove the cart's directory and its ``cartuids`` link (missing ones are fine).

    Nothing is followed: a link inside the cart is removed, not its target.
    """
    with vol.opened(vol.open_root(volume)) as root:
        try:
            links = vol.open_dir(root, LINKS)
        except (FileNotFoundError, vol.Refused):
            links = None
        if links is not None:
            with vol.opened(links):
                with contextlib.suppress(OSError):   # no link, or not a link
                    if os.readlink(uid, dir_fd=links).startswith('../{}/'.format(cart_id)):
                        os.unlink(uid, dir_fd=links)
        vol.remove_tree(root, str(cart_id))


# -- tar members -----------------------------------------------------------------------------
_NAMES = {}


def _owner(uid, gid):
    if (uid, gid) not in _NAMES:
        try:
            uname = pwd.getpwuid(uid).pw_name
        except KeyError:
            uname = ''
        try:
            gname = grp.getgrgid(gid).gr_name
        except KeyError:
            gname = ''
        _NAMES[(uid, gid)] = (uname, gname)
    return _NAMES[(uid, gid)]


def _tarinfo(parts, arcname, info):
    member = tarfile.TarInfo(arcname)
    member.mode = stat.S_IMODE(info.st_mode)
    member.uid, member.gid = info.st_uid, info.st_gid
    member.uname, member.gname = _owner(info.st_uid, info.st_gid)
    member.mtime = int(info.st_mtime)
    if stat.S_ISDIR(info.st_mode):
        member.type = tarfile.DIRTYPE
        member.size = 0
    else:
        member.type = tarfile.REGTYPE
        member.size = info.st_size
    return member, parts


def plan(dir_fd, name, prefix):
    """``(TarInfo, parts)`` for a tar of directory ``name`` of ``dir_fd`` under ``prefix``,
    in tarfile's order (a directory, then its entries sorted by name, recursively); ``parts``
    locate the entry under ``dir_fd`` for :func:`stream`. Symlinks and special files are
    left out: the workers only ever write directories and regular files. The walk is
    iterative, so any depth works."""
    members = []
    for parts, info in vol.walk_tree(dir_fd, name):
        if stat.S_ISDIR(info.st_mode) or stat.S_ISREG(info.st_mode):
            arcname = '/'.join((prefix,) + parts)
            members.append(_tarinfo((name,) + parts, arcname, info))
    return members


def _header(member):
    return member.tobuf(tarfile.PAX_FORMAT, 'utf-8', 'surrogateescape')


def tar_size(members):
    """The exact byte size of the tar :func:`stream` produces for ``members``."""
    total = 0
    for member, _path in members:
        total += len(_header(member))
        total += -(-member.size // BLOCK) * BLOCK
    total += 2 * BLOCK
    return -(-total // RECORD) * RECORD


class _Opener:
    """Opens member files under a directory descriptor, one name at a time (no links
    followed), keeping the last directory open: members come directory by directory."""

    def __init__(self, dir_fd):
        self.dir_fd = dir_fd
        self.parent = None
        self.parent_fd = None

    def open(self, parts):
        """The member at ``parts`` opened for reading, as a binary file object."""
        if parts[:-1] != self.parent:
            self.close()
            self.parent_fd = vol.open_path(self.dir_fd, parts[:-1])
            self.parent = parts[:-1]
        fd = vol.open_file(self.parent_fd, parts[-1], os.O_RDONLY)
        return os.fdopen(fd, 'rb')

    def close(self):
        """Close the directory kept open."""
        if self.parent_fd is not None:
            os.close(self.parent_fd)
        self.parent = self.parent_fd = None


def stream(members, dir_fd, chunk_size, regions=False):
    """Yield the tar of ``members`` (from :func:`plan` on ``dir_fd``, which must stay open
    while this runs) in pieces of about ``chunk_size`` bytes.

    The output is an uncompressed PAX tar that :mod:`tarfile` reads, also as a stream. A file
    that shrank since :func:`plan` raises OSError rather than producing a corrupt archive.
    With ``regions``, the data of a member of at least ``REGION_MIN`` bytes is yielded as one
    :class:`~pacifica.common.sendfile.FileRegion` (for a server that sends it with sendfile,
    which then raises on a short file) instead of being read here.
    """
    opener = _Opener(dir_fd)
    try:
        yield from _stream(members, opener, chunk_size, regions)
    finally:
        opener.close()


def _stream(members, opener, chunk_size, regions):
    buffer = bytearray()
    total = 0
    for member, parts in members:
        header = _header(member)
        buffer += header
        total += len(header)
        if member.type != tarfile.REGTYPE:
            continue
        with opener.open(parts) as handle:
            remaining = member.size
            if regions and remaining >= REGION_MIN:
                yield bytes(buffer)
                buffer.clear()
                yield sendfile.FileRegion(handle, 0, remaining)
                remaining = 0
            while remaining > 0:
                data = handle.read(min(chunk_size, remaining))
                if not data:
                    raise BundleError(errno.EIO, 'file {} shrank while being archived'.format(
                        member.name))
                remaining -= len(data)
                if len(data) >= chunk_size:
                    # A full read passes straight through: copying it into the buffer
                    # behind the pending header bytes cost two copies of every chunk.
                    if buffer:
                        yield bytes(buffer)
                        buffer.clear()
                    yield data
                    continue
                buffer += data
                if len(buffer) >= chunk_size:
                    yield bytes(buffer)
                    buffer.clear()
        padding = -member.size % BLOCK
        buffer += bytes(padding)
        total += member.size + padding
    total += 2 * BLOCK
    buffer += bytes(2 * BLOCK + (-total % RECORD))
    if buffer:
        yield bytes(buffer)


def write_bundle(volume, cart_id, uid, chunk_size, heartbeat=None):
    """Write ``<cart.id>/<uid>.tar`` (members under ``<uid>/``).

    The tar is written to a temporary name, fsynced and renamed, so a reader never sees a
    partial bundle; a failure removes the temporary file. The directory is left for the
    caller to remove once the cart is marked ready: a bundler killed in between is simply
    run again on the complete directory. ``heartbeat`` is called between chunks (to show
    the cart is alive). Returns the path. Any failure is an OSError naming the problem.
    """
    target = uid + '.tar'
    temp = '{}~{}'.format(target, uuid.uuid4().hex)
    with vol.opened(vol.open_cart_dir(volume, cart_id)) as cart_fd:
        try:
            members = plan(cart_fd, uid, uid)
            fd = vol.open_file(cart_fd, temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
            with os.fdopen(fd, 'wb') as handle:
                for chunk in stream(members, cart_fd, chunk_size):
                    handle.write(chunk)
                    if heartbeat:
                        heartbeat()
                handle.flush()
                os.fsync(handle.fileno())
            os.rename(temp, target, src_dir_fd=cart_fd, dst_dir_fd=cart_fd)
            os.fsync(cart_fd)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp, dir_fd=cart_fd)
            raise
    return tar_path(volume, cart_id, uid)


def link_uid(volume, cart_id, uid, target_name):
    """Point ``cartuids/<uid>`` at ``../<cart.id>/<target_name>`` (atomically replaced; a
    link or file planted as ``cartuids`` itself is refused)."""
    with vol.opened(vol.open_root(volume)) as root:
        with vol.opened(vol.open_dir(root, LINKS, create=True, mode=vol.PRIVATE)) as links:
            temp = '{}~{}'.format(uid, uuid.uuid4().hex)
            os.symlink('../{}/{}'.format(cart_id, target_name), temp, dir_fd=links)
            try:
                os.rename(temp, uid, src_dir_fd=links, dst_dir_fd=links)
            except OSError:
                with contextlib.suppress(OSError):
                    os.unlink(temp, dir_fd=links)
                raise

"""The cart volume on disk: directory layout, tar streams, bundles and cart locks.

Layout (upstream's)::

    <volume>/<cart.id>/<cart_uid>/<path>     staged files
    <volume>/<cart.id>/<cart_uid>.tar        the pre-built bundle (bundle=true)
    <volume>/cartuids/<cart_uid>  ->  ../<cart.id>/<cart_uid>[.tar]

plus, ours, names containing ``~`` (which no uid may contain, so nothing can clash):
``<cart.id>/partial~/`` for downloads in progress, ``<cart.id>/sizes~`` for the sizes the
archive announced (progress reporting) and ``<cart.id>/lock~`` (see :func:`cart_lock`).

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
import shutil
import stat
import tarfile
import uuid

from pacifica.common import sendfile

BLOCK = tarfile.BLOCKSIZE
RECORD = tarfile.RECORDSIZE
# Smaller members are copied into the stream: a separate sendfile per small file costs more
# than the copy it saves.
REGION_MIN = 256 * 1024


class CartBusy(Exception):
    """The cart is in use (being downloaded) and cannot be removed now."""


def cart_dir(volume, cart_id):
    """``<volume>/<cart.id>``."""
    return os.path.join(volume, str(cart_id))


def files_dir(volume, cart_id, uid):
    """``<volume>/<cart.id>/<uid>``: where staged files live."""
    return os.path.join(cart_dir(volume, cart_id), uid)


def tar_path(volume, cart_id, uid):
    """``<volume>/<cart.id>/<uid>.tar``: the pre-built bundle."""
    return os.path.join(cart_dir(volume, cart_id), uid + '.tar')


def partial_dir(volume, cart_id):
    """Where downloads in progress are written before being renamed into place."""
    return os.path.join(cart_dir(volume, cart_id), 'partial~')


def sizes_file(volume, cart_id):
    """Where the archive-announced size of each file is noted (``<file.id> <size>`` lines)."""
    return os.path.join(cart_dir(volume, cart_id), 'sizes~')


def inside(path, root):
    """Whether ``path`` resolves to a location under ``root`` (symlinks followed)."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real.startswith(real_root + os.sep)


# -- locks -----------------------------------------------------------------------------------
@contextlib.contextmanager
def cart_lock(volume, cart_id, exclusive=False):
    """Hold the cart's lock file: shared while streaming, exclusive to remove.

    ``flock`` is per open file and is dropped by the kernel when the holder dies, so a
    crashed download never keeps a cart pinned. An exclusive request does not wait: it
    raises CartBusy. A missing cart directory raises FileNotFoundError.
    """
    path = os.path.join(cart_dir(volume, cart_id), 'lock~')
    handle = open(path, 'a+b')  # pylint: disable=consider-using-with
    try:
        try:
            fcntl.flock(handle.fileno(),
                        fcntl.LOCK_EX | fcntl.LOCK_NB if exclusive else fcntl.LOCK_SH)
        except BlockingIOError:
            raise CartBusy('cart {} is being downloaded'.format(cart_id)) from None
        yield
    finally:
        handle.close()


def remove_cart_files(volume, cart_id, uid):
    """Remove the cart's directory and its ``cartuids`` link (missing ones are fine)."""
    link = os.path.join(volume, 'cartuids', uid)
    if os.path.islink(link) and os.readlink(link).startswith('../{}/'.format(cart_id)):
        os.unlink(link)
    try:
        shutil.rmtree(cart_dir(volume, cart_id))
    except FileNotFoundError:
        pass


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


def _tarinfo(path, arcname, info):
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
    return member, path


def plan(root, prefix):
    """``(TarInfo, path on disk)`` for a tar of directory ``root`` under ``prefix``, in tarfile's order
    (a directory, then its entries sorted by name, recursively). Symlinks and special
    files are left out: the workers only ever write directories and regular files."""
    members = [_tarinfo(root, prefix, os.stat(root))]

    def walk(directory, arcdir):
        for name in sorted(os.listdir(directory)):
            path = os.path.join(directory, name)
            info = os.lstat(path)
            arcname = arcdir + '/' + name
            if stat.S_ISDIR(info.st_mode):
                members.append(_tarinfo(path, arcname, info))
                walk(path, arcname)
            elif stat.S_ISREG(info.st_mode):
                members.append(_tarinfo(path, arcname, info))

    walk(root, prefix)
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


def stream(members, chunk_size, regions=False):
    """Yield the tar of ``members`` in pieces of about ``chunk_size`` bytes.

    The output is an uncompressed PAX tar that :mod:`tarfile` reads, also as a stream. A file
    that shrank since :func:`plan` raises OSError rather than producing a corrupt archive.
    With ``regions``, the data of a member of at least ``REGION_MIN`` bytes is yielded as one
    :class:`~pacifica.common.sendfile.FileRegion` (for a server that sends it with sendfile,
    which then raises on a short file) instead of being read here.
    """
    buffer = bytearray()
    total = 0
    for member, path in members:
        header = _header(member)
        buffer += header
        total += len(header)
        if member.type != tarfile.REGTYPE:
            continue
        with open(path, 'rb') as handle:
            remaining = member.size
            if regions and remaining >= REGION_MIN:
                yield bytes(buffer)
                buffer.clear()
                yield sendfile.FileRegion(handle, 0, remaining)
                remaining = 0
            while remaining > 0:
                data = handle.read(min(chunk_size, remaining))
                if not data:
                    raise OSError(errno.EIO, 'file {} shrank while being archived'.format(
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
    the cart is alive). Returns the path.
    """
    source = files_dir(volume, cart_id, uid)
    target = tar_path(volume, cart_id, uid)
    temp = '{}~{}'.format(target, uuid.uuid4().hex)
    try:
        with open(temp, 'xb') as handle:
            for chunk in stream(plan(source, uid), chunk_size):
                handle.write(chunk)
                if heartbeat:
                    heartbeat()
            handle.flush()
            os.fsync(handle.fileno())
        os.rename(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise
    return target


def link_uid(volume, cart_id, uid, target_name):
    """Point ``cartuids/<uid>`` at ``../<cart.id>/<target_name>`` (atomically replaced)."""
    links = os.path.join(volume, 'cartuids')
    os.makedirs(links, exist_ok=True)
    temp = os.path.join(links, '{}~{}'.format(uid, uuid.uuid4().hex))
    os.symlink('../{}/{}'.format(cart_id, target_name), temp)
    try:
        os.rename(temp, os.path.join(links, uid))
    except OSError:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise

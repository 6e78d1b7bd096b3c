"""Every file-system operation cartd does inside its volume, done so nobody else can steer it.

The volume root is checked once at start-up (:func:`prepare_root`): it must be a directory
of cartd's own user that no other user can write to, so nobody can plant a symbolic link or a
directory in it. Below the root, nothing is opened by path: each step opens one name relative
to the descriptor of its directory with ``O_NOFOLLOW``, so a symbolic link anywhere in a cart
(planted, or left by a bug) makes the operation fail instead of leading it out of the volume.
A cart directory is made (mode 0700) with an exclusive ``mkdir`` when its cart is created
(:func:`create_cart_dir`); the workers use it only if it is a real directory of cartd's user
that nobody else can write to.

Walks (:func:`remove_tree`, :func:`walk_tree`) are iterative and hold two descriptors at a
time whatever the depth: going back up opens ``..`` and checks it is the directory it came
from, so a tree of any depth is listed and removed without recursion or descriptor limits.
"""
import contextlib
import errno
import os
import stat

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_NOFOLLOW | os.O_CLOEXEC
PRIVATE = 0o700


class UnsafeVolume(Exception):
    """The volume root cannot be used (it cannot be made, or other users could steer it);
    the message is one line."""


class Refused(OSError):
    """A name in the volume is not what cartd made (a symbolic link, or not a directory)."""


def root_path(volume):
    """The configured ``volume_path`` as an absolute path (``~`` expanded)."""
    return os.path.abspath(os.path.expanduser(volume))


def _writable_by_others(info):
    return bool(info.st_mode & (stat.S_IWGRP | stat.S_IWOTH))


def prepare_root(volume):
    """Create the volume root (mode 0700) if it is missing and check it can be trusted.

    Refused, with :class:`UnsafeVolume`: a root that is not a directory, that belongs to
    another user, or that its group or other users may write to (the sticky bit does not
    help: in a ``/tmp``-like root anyone may still create the next cart's name). Each
    directory above it must belong to root or to this user and either be closed to other
    writers or have the sticky bit (then only an entry's owner can rename it), or someone
    else could put a volume of their own in its place. Returns the absolute root.
    """
    root = root_path(volume)
    try:
        os.makedirs(root, mode=PRIVATE, exist_ok=True)
        info = os.stat(root)
    except OSError as exc:
        raise UnsafeVolume('cannot create the cart volume {}: {}'.format(
            root, exc.strerror or exc)) from None
    if not stat.S_ISDIR(info.st_mode):
        raise UnsafeVolume('the cart volume {} is not a directory'.format(root))
    if info.st_uid != os.geteuid():
        raise UnsafeVolume('the cart volume {} belongs to uid {}, not to this user (uid {}); '
                           'refusing it'.format(root, info.st_uid, os.geteuid()))
    if _writable_by_others(info):
        raise UnsafeVolume('the cart volume {} can be written by other users (mode {:o}); '
                           'use a private directory (chmod 700)'.format(
                               root, stat.S_IMODE(info.st_mode)))
    parent = os.path.dirname(os.path.realpath(root))
    while True:
        above = os.stat(parent)
        if _writable_by_others(above) and not above.st_mode & stat.S_ISVTX:
            raise UnsafeVolume('the cart volume {} lies under {}, which other users can write '
                               'to (mode {:o}); move the volume'.format(
                                   root, parent, stat.S_IMODE(above.st_mode)))
        if above.st_uid not in (0, os.geteuid()):
            raise UnsafeVolume('the cart volume {} lies under {}, which belongs to uid {} (who '
                               'could replace the volume); move the volume'.format(
                                   root, parent, above.st_uid))
        if parent == os.path.dirname(parent):
            return root
        parent = os.path.dirname(parent)


@contextlib.contextmanager
def opened(fd):
    """Close ``fd`` when the block ends."""
    try:
        yield fd
    finally:
        os.close(fd)


def open_root(volume):
    """A descriptor of the volume root (the operator's path; links in it are theirs)."""
    return os.open(root_path(volume), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)


def open_dir(dir_fd, name, create=False, mode=0o777):
    """Open directory ``name`` of ``dir_fd`` without following a link; with ``create``, make
    it first when missing. Raises :class:`Refused` for a link or a non-directory."""
    if create:
        try:
            os.mkdir(name, mode, dir_fd=dir_fd)
        except FileExistsError:
            pass
    try:
        return os.open(name, DIR_FLAGS, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENOTDIR):
            raise Refused(exc.errno, '{!r} in the cart volume is a symbolic link or not a '
                                     'directory; refused'.format(name)) from None
        raise


def open_file(dir_fd, name, flags, mode=0o600):
    """``os.open`` of ``name`` in ``dir_fd`` that never follows a link (:class:`Refused`)."""
    try:
        return os.open(name, flags | FILE_FLAGS, mode, dir_fd=dir_fd)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Refused(exc.errno, '{!r} in the cart volume is a symbolic link; '
                                     'refused'.format(name)) from None
        raise


def open_path(dir_fd, parts, create=False):
    """Open the directory ``dir_fd/parts[0]/parts[1]/...`` one name at a time."""
    current = os.dup(dir_fd)
    try:
        for part in parts:
            following = open_dir(current, part, create)
            os.close(current)
            current = following
    except BaseException:
        os.close(current)
        raise
    return current


def create_cart_dir(volume, cart_id):
    """Make ``<volume>/<cart.id>`` (mode 0700) with an exclusive ``mkdir``: an entry of
    that name already there (a planted link, the leftover of a cart of an earlier database)
    raises FileExistsError, so a new cart never shares or follows it."""
    with opened(open_root(volume)) as root:
        os.mkdir(str(cart_id), PRIVATE, dir_fd=root)


def open_cart_dir(volume, cart_id, create=False):
    """A descriptor of ``<volume>/<cart.id>``; with ``create`` it is made (mode 0700) when
    missing. ``mkdir`` never follows a link, and what is opened must be a real directory of
    this user that nobody else can write to, else :class:`Refused`."""
    name = str(cart_id)
    with opened(open_root(volume)) as root:
        fd = open_dir(root, name, create=create, mode=PRIVATE)
    info = os.fstat(fd)
    if info.st_uid != os.geteuid() or _writable_by_others(info):
        os.close(fd)
        raise Refused(errno.EPERM, 'cart directory {!r} in the volume belongs to uid {} '
                                   'with mode {:o}; refused'.format(
                                       name, info.st_uid, stat.S_IMODE(info.st_mode)))
    return fd


def _identity(fd):
    info = os.fstat(fd)
    return info.st_dev, info.st_ino


def _up(fd, expected):
    """Open ``..`` of ``fd`` and check it is the directory we came down from."""
    parent = os.open('..', DIR_FLAGS, dir_fd=fd)
    if _identity(parent) != expected:
        os.close(parent)
        raise Refused(errno.EXDEV, 'a directory of the cart volume was moved while it was '
                                   'walked; stopped')
    return parent


def _entries(fd):
    with os.scandir(fd) as found:
        return [(entry.name, entry.is_dir(follow_symlinks=False)) for entry in found]


def remove_tree(dir_fd, name):
    """Remove ``name`` in ``dir_fd`` and everything under it; a missing name is fine.

    Links are removed, never followed; the walk is iterative (any depth). Another process
    removing the same tree at the same time (a worker clearing a bundled cart's files while
    it is deleted) is fine: what vanished is skipped. Returns whether anything was there.
    """
    found = False
    while True:
        try:
            top = open_dir(dir_fd, name)
        except FileNotFoundError:
            return found
        except Refused:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(name, dir_fd=dir_fd)   # a link or a file where a directory belongs
            return True
        found = True
        try:
            _remove_below(dir_fd, name, top)
            return True
        except _Vanished:
            continue   # part of the tree went under us: start again from the top


class _Vanished(Exception):
    """A directory of the walk was removed by someone else."""


def _remove_below(dir_fd, name, top):
    ancestors, names, current = [_identity(dir_fd)], [name], top
    try:
        while True:
            child = None
            for entry, is_dir in _entries(current):
                if is_dir:
                    child = entry
                    break
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry, dir_fd=current)
            if child is not None:
                try:
                    following = open_dir(current, child)
                except FileNotFoundError:
                    continue
                ancestors.append(_identity(current))
                names.append(child)
                os.close(current)
                current = following
                continue
            # ``current`` is empty now: leave it and remove it from its parent.
            done = names.pop()
            expected = ancestors.pop()
            if not names:
                os.close(current)
                current = None
                with contextlib.suppress(FileNotFoundError):
                    os.rmdir(done, dir_fd=dir_fd)
                return
            try:
                parent = _up(current, expected)
            except FileNotFoundError:
                raise _Vanished() from None
            os.close(current)
            current = parent
            with contextlib.suppress(FileNotFoundError):
                os.rmdir(done, dir_fd=current)
    finally:
        if current is not None:
            os.close(current)


def walk_tree(dir_fd, name):
    """Yield ``(relative parts, lstat result)`` for directory ``name`` of ``dir_fd`` and
    everything under it: a directory before its entries, entries sorted by name (tarfile's
    order). Links and special files are yielded too; the caller decides. Iterative."""
    current = open_dir(dir_fd, name)
    try:
        yield (), os.fstat(current)
        # One frame per directory being listed: the names still to yield (reversed, so the
        # next is popped from the end), its parts, and the identity of its parent.
        stack = [(_sorted_names(current), (), _identity(dir_fd))]
        while stack:
            pending, parts, parent_id = stack[-1]
            if not pending:
                stack.pop()
                if stack:
                    parent = _up(current, parent_id)
                    os.close(current)
                    current = parent
                continue
            entry = pending.pop()
            info = os.stat(entry, dir_fd=current, follow_symlinks=False)
            yield parts + (entry,), info
            if stat.S_ISDIR(info.st_mode):
                following = open_dir(current, entry)
                stack.append((_sorted_names(following), parts + (entry,), _identity(current)))
                os.close(current)
                current = following
    finally:
        os.close(current)


def usage(dir_fd, name):
    """Bytes the directory ``name`` of ``dir_fd`` and everything under it occupy on disk
    (allocated blocks, so what removing it gives back); 0 when it is missing."""
    try:
        return sum(info.st_blocks * 512 for _parts, info in walk_tree(dir_fd, name))
    except FileNotFoundError:
        return 0


def _sorted_names(fd):
    return sorted((entry for entry, _is_dir in _entries(fd)), reverse=True)

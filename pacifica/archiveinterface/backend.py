"""The POSIX backend: file ids mapped to paths under one root directory.

Every operation works on its own file handle (upstream kept one "current file" per process,
so concurrent requests read each other's files). A file id can never name anything outside
the root: ids are a single safe name (or an integer in ``id2filename`` mode) and the resolved
path is checked to lie under the root, so a symlink planted inside the archive cannot lead
out of it either.
"""
import errno
import logging
import math
import os
import re
import shutil
import stat
import uuid

from pacifica.common.errors import BadRequest, NotFound, ServiceError
from pacifica.common.fsutil import fsync_path

LOGGER = logging.getLogger(__name__)

SAFE_ID = re.compile(r'[A-Za-z0-9._-]{1,255}\Z')
INTEGER_ID = re.compile(r'-?[0-9]{1,40}\Z')
# Temporary names carry a '+', which no valid id (and no id2filename name) contains, so an
# upload in progress can never be read, overwritten or deleted through the API.
TEMP_MARK = '+upload-'
# The modification times a PUT may set (epoch seconds, 1970-01-01 to 2242-03-16): every
# filesystem the archive runs on can store them, and os.utime never overflows on them.
MTIME_RANGE = (0, 2 ** 33)


class ArchiveError(ServiceError):
    """The archive cannot do what was asked (500 unless a subclass says otherwise).

    Bad input and missing files are the shared :class:`BadRequest` (400) and
    :class:`NotFound` (404) of :mod:`pacifica.common.errors`.
    """


class Forbidden(ArchiveError):
    """The operation is not allowed (403)."""

    status = 403


class StorageFull(ArchiveError):
    """The archive's filesystem is full (507)."""

    status = 507


def id2filename(number):
    """The relative path of integer id ``number`` in ``id2filename`` mode.

    The lower-case hex of the id is split from its end into two-character directory levels
    while more than two characters remain; the full hex is the file name. Ids of up to two
    hex digits live at ``file.<hex>``.
    """
    digits = format(abs(number), 'x')
    text = '-' + digits if number < 0 else digits
    if len(text) <= 2:
        return 'file.' + text
    levels = []
    remaining = text
    while len(remaining) > 2:
        levels.append(remaining[-2:])
        remaining = remaining[:-2]
    return '/'.join(levels + [text])


def parse_time(value):
    """Parse an ``HTTP-date`` (RFC 1123, RFC 850 or asctime) or epoch seconds to a float.

    A date without a zone counts as UTC. Raises ValueError on anything else, and on a time
    outside :data:`MTIME_RANGE` (``inf``, ``nan``, ``1e20``, a year 99999 date).
    """
    import email.utils  # pylint: disable=import-outside-toplevel
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            parsed = email.utils.parsedate_tz(text)
            if parsed is None:
                raise ValueError('not an HTTP date')
            if parsed[9] is None:
                parsed = parsed[:9] + (0,)
            seconds = float(email.utils.mktime_tz(parsed))
        except (TypeError, IndexError, OverflowError) as exc:
            # email.utils trips over some malformed dates instead of returning None.
            raise ValueError('not an HTTP date') from exc
    if not math.isfinite(seconds) or not MTIME_RANGE[0] <= seconds < MTIME_RANGE[1]:
        raise ValueError('outside the range of times the archive stores')
    return seconds


class PosixBackend:
    """Files under ``prefix``; see the module docstring for the safety rules."""

    def __init__(self, prefix, use_id2filename=False, staging_root=''):
        self.prefix = os.path.realpath(prefix)
        self.use_id2filename = use_id2filename
        self.staging_root = os.path.realpath(staging_root) if staging_root else ''

    # -- ids and paths --------------------------------------------------------------------
    def relative_path(self, fileid):
        """The path of ``fileid`` relative to the root; BadRequest for an unsafe id."""
        if self.use_id2filename:
            if not INTEGER_ID.match(fileid):
                raise BadRequest('file id {!r} is not an integer (the archive maps integer '
                                     'ids to paths)'.format(_clip(fileid)))
            return id2filename(int(fileid))
        if not SAFE_ID.match(fileid) or fileid in ('.', '..'):
            raise BadRequest(
                'file id {!r} is not allowed: use 1-255 characters from A-Z a-z 0-9 . _ - '
                '(and not "." or "..")'.format(_clip(fileid)))
        return fileid

    def path(self, fileid):
        """The absolute path of ``fileid``, guaranteed to lie under the root."""
        full = os.path.join(self.prefix, self.relative_path(fileid))
        self._check_inside(full, fileid)
        return full

    def _check_inside(self, full, fileid):
        parent = os.path.realpath(os.path.dirname(full))
        if parent != self.prefix and not parent.startswith(self.prefix + os.sep):
            raise Forbidden('file id {!r} resolves outside the archive'.format(_clip(fileid)))
        if os.path.islink(full):
            raise Forbidden('file id {!r} is a symbolic link; the archive does not follow '
                            'links'.format(_clip(fileid)))

    # -- reading --------------------------------------------------------------------------
    def open(self, fileid):
        """Open ``fileid`` for reading; returns ``(handle, os.stat_result)``."""
        full = self.path(fileid)
        try:
            handle = open(full, 'rb')  # pylint: disable=consider-using-with
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound('file {} was not found in the archive'.format(fileid)) from None
        except IsADirectoryError:
            raise NotFound('file {} was not found in the archive'.format(fileid)) from None
        except PermissionError:
            raise Forbidden('file {} is not readable by the archive service'.format(
                fileid)) from None
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            handle.close()
            raise NotFound('file {} was not found in the archive'.format(fileid))
        return handle, info

    def stat(self, fileid):
        """``os.stat`` of a stored file; NotFound when there is none."""
        full = self.path(fileid)
        try:
            info = os.stat(full)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound('file {} was not found in the archive'.format(fileid)) from None
        if not stat.S_ISREG(info.st_mode):
            raise NotFound('file {} was not found in the archive'.format(fileid))
        return info

    # -- writing --------------------------------------------------------------------------
    def _target(self, fileid):
        full = self.path(fileid)
        try:
            self._make_parents(os.path.dirname(full))
        except OSError as exc:
            raise _os_error(exc, 'cannot create the directory for file {}'.format(fileid))
        # Creating the directories may have followed a link planted inside the root.
        self._check_inside(full, fileid)
        return full

    def _make_parents(self, directory):
        """Create the missing directories up to ``directory`` (mode 0755) and make each new
        name durable: a file acknowledged in a new directory must not vanish with it."""
        missing = []
        while directory != self.prefix and not os.path.isdir(directory):
            missing.append(directory)
            directory = os.path.dirname(directory)
        for path in reversed(missing):
            try:
                os.mkdir(path, 0o755)
            except FileExistsError:
                continue   # a concurrent upload made it; that one syncs its parent
            fsync_path(os.path.dirname(path))

    def store(self, fileid, stream, length, mtime, chunk_size=1 << 20):
        """Store ``length`` bytes read from ``stream`` as ``fileid``; returns bytes written.

        The data goes to a temporary file in the target directory, is fsynced, and only a
        complete upload is renamed over the target (an existing file is replaced), then
        given ``mtime`` and made read-only; the directory is fsynced after the rename, so a
        file acknowledged survives a crash. A short body or a full disk leaves nothing.
        """
        full = self._target(fileid)
        temp = '{}{}{}'.format(full, TEMP_MARK, uuid.uuid4().hex)
        written = 0
        try:
            with open(temp, 'xb') as handle:
                while written < length:
                    data = _read(stream, min(chunk_size, length - written))
                    if not data:
                        break
                    handle.write(data)
                    written += len(data)
                handle.flush()
                os.fsync(handle.fileno())
            if written != length:
                raise BadRequest('the upload ended after {} of the {} bytes announced in '
                                 'Content-Length; nothing was stored'.format(written, length))
            os.utime(temp, (mtime, mtime))
            os.chmod(temp, 0o444)
            os.rename(temp, full)
        except ServiceError:
            _remove(temp)
            raise
        except OSError as exc:
            _remove(temp)
            raise _os_error(exc, 'cannot store file {} (wrote {} of {} bytes); nothing was '
                                 'stored'.format(fileid, written, length)) from None
        except BaseException:
            # A client that disconnects mid-body surfaces as an arbitrary exception here.
            _remove(temp)
            raise
        self._sync_directory(full, fileid)
        return written

    @staticmethod
    def _sync_directory(full, fileid):
        try:
            fsync_path(os.path.dirname(full))
        except OSError as exc:
            raise _os_error(exc, 'file {} was written but its directory could not be '
                                 'synced'.format(fileid)) from None

    def _source(self, source):
        """Check a PATCH source; returns its real path under the staging root."""
        if not self.staging_root:
            raise Forbidden('PATCH is disabled: no staging root is configured '
                            '([posix] staging_root or PAI_STAGING_ROOT)')
        if not isinstance(source, str) or not source:
            raise BadRequest("'path' must be a non-empty string")
        try:
            os.fsencode(source)
        except UnicodeEncodeError:
            raise BadRequest("'path' is not a valid file name (it holds a lone surrogate)") \
                from None
        if '\x00' in source or not os.path.isabs(source):
            raise BadRequest("'path' must be an absolute path without NUL characters")
        shown = _clip(source)
        try:
            info = os.lstat(source)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound('source file {} does not exist'.format(shown)) from None
        except OSError as exc:
            raise _os_error(exc, 'cannot read source file {}'.format(shown)) from None
        if stat.S_ISLNK(info.st_mode):
            raise BadRequest('source file {} is a symbolic link; move the file it points '
                             'to instead'.format(shown))
        if not stat.S_ISREG(info.st_mode):
            raise BadRequest('source {} is not a regular file'.format(shown))
        real = os.path.realpath(source)
        if not real.startswith(self.staging_root + os.sep):
            # The staging root itself is not named: the client need not learn server paths.
            raise Forbidden('source file {} is outside the staging root'.format(shown))
        return real

    def move_in(self, fileid, source):
        """Move the server-side file ``source`` (under the staging root) to ``fileid``.

        The mtime is kept and the file made read-only, as PUT leaves it. On one filesystem
        the file is synced and renamed; across filesystems it is copied to a temporary name
        beside the target and synced, renamed into place, and only then is the source
        removed. Either way the target directory is synced before the move is acknowledged.
        """
        real = self._source(source)
        full = self._target(fileid)
        shown = _clip(source)
        try:
            _settle(real)
            os.rename(real, full)
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise _os_error(exc, 'cannot move {} into the archive'.format(shown)) from None
        else:
            self._sync_directory(full, fileid)
            return
        temp = '{}{}{}'.format(full, TEMP_MARK, uuid.uuid4().hex)
        try:
            shutil.copyfile(real, temp)
            fsync_path(temp)
            shutil.copystat(real, temp)
            os.chmod(temp, 0o444)
            os.rename(temp, full)
        except OSError as exc:
            _remove(temp)
            raise _os_error(exc, 'cannot copy {} into the archive'.format(shown)) from None
        self._sync_directory(full, fileid)
        _remove(real)

    def delete(self, fileid):
        """Remove ``fileid``; NotFound when there is none."""
        full = self.path(fileid)
        try:
            info = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            raise NotFound('file {} was not found in the archive'.format(fileid)) from None
        if not stat.S_ISREG(info.st_mode):
            raise NotFound('file {} was not found in the archive'.format(fileid))
        try:
            os.unlink(full)
        except OSError as exc:
            raise _os_error(exc, 'cannot delete file {}'.format(fileid)) from None


def _read(stream, size):
    """Read from the request body; a client that stalls past the server's body timeout or
    drops the connection has sent a short body (400), not hit a server fault."""
    try:
        return stream.read(size)
    except OSError:   # socket.timeout, ConnectionResetError, ...
        return b''


def _settle(path):
    """Sync a staged file (whoever wrote it may not have) and make it read-only before it
    moves in. A file of another user that the service may not open or chmod moves as it
    is, as upstream moved every file."""
    try:
        fsync_path(path)
        os.chmod(path, 0o444)
    except PermissionError as exc:
        LOGGER.warning('moving %s in without syncing it or making it read-only: %s',
                       path, exc.strerror)


def _remove(path):
    try:
        os.unlink(path)
    except OSError:
        pass


def _os_error(exc, what):
    """Turn an OSError into the ArchiveError a client can act on (no server paths)."""
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StorageFull('{}: the archive filesystem is full'.format(what))
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return Forbidden('{}: permission denied'.format(what))
    if exc.errno == errno.ENAMETOOLONG:
        return BadRequest('{}: name too long'.format(what))
    return ArchiveError('{}: {}'.format(what, exc.strerror or exc))


def _clip(text, limit=80):
    return text if len(text) <= limit else text[:limit] + '...'

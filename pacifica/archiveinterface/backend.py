"""The POSIX backend: file ids mapped to paths under one root directory.

Every operation works on its own file handle (upstream kept one "current file" per process,
so concurrent requests read each other's files). A file id can never name anything outside
the root: ids are a single safe name (or an integer in ``id2filename`` mode) and the resolved
path is checked to lie under the root, so a symlink planted inside the archive cannot lead
out of it either.
"""
import errno
import os
import re
import shutil
import stat
import uuid

SAFE_ID = re.compile(r'[A-Za-z0-9._-]{1,255}\Z')
INTEGER_ID = re.compile(r'-?[0-9]{1,40}\Z')
# Temporary names carry a '+', which no valid id (and no id2filename name) contains, so an
# upload in progress can never be read, overwritten or deleted through the API.
TEMP_MARK = '+upload-'


class ArchiveError(Exception):
    """A request the backend refuses; ``status`` is the HTTP status to answer with."""

    status = 500

    def __init__(self, message, status=None):
        super().__init__(message)
        if status is not None:
            self.status = status


class InvalidRequest(ArchiveError):
    """Bad input from the client (400)."""

    status = 400


class FileMissing(ArchiveError):
    """No file under that id (404)."""

    status = 404


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

    A date without a zone counts as UTC. Raises ValueError on anything else.
    """
    import email.utils  # pylint: disable=import-outside-toplevel
    text = value.strip()
    try:
        return float(text)
    except ValueError:
        pass
    parsed = email.utils.parsedate_tz(text)
    if parsed is None:
        raise ValueError('not an HTTP date')
    if parsed[9] is None:
        parsed = parsed[:9] + (0,)
    return float(email.utils.mktime_tz(parsed))


class PosixBackend:
    """Files under ``prefix``; see the module docstring for the safety rules."""

    def __init__(self, prefix, use_id2filename=False, staging_root=''):
        self.prefix = os.path.realpath(prefix)
        self.use_id2filename = use_id2filename
        self.staging_root = os.path.realpath(staging_root) if staging_root else ''

    # -- ids and paths --------------------------------------------------------------------
    def relative_path(self, fileid):
        """The path of ``fileid`` relative to the root; InvalidRequest for an unsafe id."""
        if self.use_id2filename:
            if not INTEGER_ID.match(fileid):
                raise InvalidRequest('file id {!r} is not an integer (the archive maps integer '
                                     'ids to paths)'.format(_clip(fileid)))
            return id2filename(int(fileid))
        if not SAFE_ID.match(fileid) or fileid in ('.', '..'):
            raise InvalidRequest(
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
            raise FileMissing('file {} was not found in the archive'.format(fileid)) from None
        except IsADirectoryError:
            raise FileMissing('file {} was not found in the archive'.format(fileid)) from None
        except PermissionError:
            raise Forbidden('file {} is not readable by the archive service'.format(
                fileid)) from None
        info = os.fstat(handle.fileno())
        if not stat.S_ISREG(info.st_mode):
            handle.close()
            raise FileMissing('file {} was not found in the archive'.format(fileid))
        return handle, info

    def stat(self, fileid):
        """``os.stat`` of a stored file; FileMissing when there is none."""
        full = self.path(fileid)
        try:
            info = os.stat(full)
        except (FileNotFoundError, NotADirectoryError):
            raise FileMissing('file {} was not found in the archive'.format(fileid)) from None
        if not stat.S_ISREG(info.st_mode):
            raise FileMissing('file {} was not found in the archive'.format(fileid))
        return info

    # -- writing --------------------------------------------------------------------------
    def _target(self, fileid):
        full = self.path(fileid)
        try:
            os.makedirs(os.path.dirname(full), mode=0o755, exist_ok=True)
        except OSError as exc:
            raise _os_error(exc, 'cannot create the directory for file {}'.format(fileid))
        # Creating the directories may have followed a link planted inside the root.
        self._check_inside(full, fileid)
        return full

    def store(self, fileid, stream, length, mtime, chunk_size=1 << 20):
        """Store ``length`` bytes read from ``stream`` as ``fileid``; returns bytes written.

        The data goes to a temporary file in the target directory, is fsynced, and only a
        complete upload is renamed over the target (an existing file is replaced), then
        given ``mtime`` and made read-only. A short body or a full disk leaves nothing behind.
        """
        full = self._target(fileid)
        temp = '{}{}{}'.format(full, TEMP_MARK, uuid.uuid4().hex)
        written = 0
        try:
            with open(temp, 'xb') as handle:
                while written < length:
                    data = stream.read(min(chunk_size, length - written))
                    if not data:
                        break
                    handle.write(data)
                    written += len(data)
                handle.flush()
                os.fsync(handle.fileno())
            if written != length:
                raise InvalidRequest('the upload ended after {} of the {} bytes announced in '
                                     'Content-Length; nothing was stored'.format(written, length))
            os.utime(temp, (mtime, mtime))
            os.chmod(temp, 0o444)
            os.rename(temp, full)
        except ArchiveError:
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
        return written

    def move_in(self, fileid, source):
        """Move the server-side file ``source`` (under the staging root) to ``fileid``.

        The mtime is kept. Across filesystems the file is copied to a temporary name beside
        the target, renamed into place, and only then is the source removed.
        """
        if not self.staging_root:
            raise Forbidden('PATCH is disabled: no staging root is configured '
                            '([posix] staging_root or PAI_STAGING_ROOT)')
        if not isinstance(source, str) or not source:
            raise InvalidRequest("'path' must be a non-empty string")
        if '\x00' in source or not os.path.isabs(source):
            raise InvalidRequest("'path' must be an absolute path without NUL characters")
        try:
            info = os.lstat(source)
        except (FileNotFoundError, NotADirectoryError):
            raise FileMissing('source file {} does not exist'.format(source)) from None
        except OSError as exc:
            raise _os_error(exc, 'cannot read source file {}'.format(source)) from None
        if stat.S_ISLNK(info.st_mode):
            raise InvalidRequest('source file {} is a symbolic link; move the file it points '
                                 'to instead'.format(source))
        if not stat.S_ISREG(info.st_mode):
            raise InvalidRequest('source {} is not a regular file'.format(source))
        real = os.path.realpath(source)
        if not real.startswith(self.staging_root + os.sep):
            raise Forbidden('source file {} is outside the staging root {}'.format(
                source, self.staging_root))
        full = self._target(fileid)
        try:
            os.rename(real, full)
            return
        except OSError as exc:
            if exc.errno != errno.EXDEV:
                raise _os_error(exc, 'cannot move {} into the archive'.format(source)) from None
        temp = '{}{}{}'.format(full, TEMP_MARK, uuid.uuid4().hex)
        try:
            shutil.copyfile(real, temp)
            shutil.copystat(real, temp)
            os.rename(temp, full)
        except OSError as exc:
            _remove(temp)
            raise _os_error(exc, 'cannot copy {} into the archive'.format(source)) from None
        _remove(real)

    def delete(self, fileid):
        """Remove ``fileid``; FileMissing when there is none."""
        full = self.path(fileid)
        try:
            info = os.lstat(full)
        except (FileNotFoundError, NotADirectoryError):
            raise FileMissing('file {} was not found in the archive'.format(fileid)) from None
        if not stat.S_ISREG(info.st_mode):
            raise FileMissing('file {} was not found in the archive'.format(fileid))
        try:
            os.unlink(full)
        except OSError as exc:
            raise _os_error(exc, 'cannot delete file {}'.format(fileid)) from None


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
        return InvalidRequest('{}: name too long'.format(what))
    return ArchiveError('{}: {}'.format(what, exc.strerror or exc))


def _clip(text, limit=80):
    return text if len(text) <= limit else text[:limit] + '...'

"""Everything a client hands cartd that ends up in a path, a URL or a header is checked here.

Each function returns the normalised value or raises :class:`Invalid` with a message that
names the field. :class:`Invalid` is the common :class:`~pacifica.common.errors.BadRequest`,
so it reaches the client as a JSON 400 through the one error handler of every service.
"""
import hashlib
import posixpath
import re
import unicodedata

from ..common import errors

UID_RE = re.compile(r'[A-Za-z0-9._-]{1,255}\Z')
ARCHIVE_ID_RE = re.compile(r'[A-Za-z0-9._-]{1,255}\Z')
MAX_NAME_BYTES = 255       # one path component, as most filesystems allow
MAX_PATH_BYTES = 4000      # the whole relative path
MAX_DEPTH = 64             # names in one path: deeper trees are refused at POST
MAX_FILES = 100000


class Invalid(errors.BadRequest, ValueError):
    """Client input that cannot be used (a 400); the message says which and why."""


def _safe_name(pattern, value):
    return isinstance(value, str) and pattern.match(value) and value not in ('.', '..')


def cart_uid(uid):
    """A cart uid: 1-255 characters from ``A-Z a-z 0-9 . _ -``, not ``.`` or ``..``.

    The uid names directories, a symlink, the tar file and the tar members, so anything
    that could be a path separator is refused (upstream let ``%2F`` through).
    """
    if not _safe_name(UID_RE, uid):
        raise Invalid('cart uid {!r} is not allowed: use 1-255 characters from A-Z a-z 0-9 '
                      '. _ - (and not "." or "..")'.format(_clip(uid)))
    return uid


def archive_id(value, where):
    """An archive file id: an integer, or a string of safe characters; returns the text."""
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise Invalid('{}.id must be an integer or a string, got {}'.format(
            where, _json_type(value)))
    text = str(value)
    if not _safe_name(ARCHIVE_ID_RE, text):
        raise Invalid('{}.id {!r} is not a valid archive id: use 1-255 characters from '
                      'A-Z a-z 0-9 . _ -'.format(where, _clip(text)))
    return text


def cart_path(value, where):
    """The relative path of a file inside the cart, normalised.

    One leading ``/`` is dropped (the python downloader sends ``/name`` for files without a
    sub-directory); anything still absolute, any ``..`` component, an empty path, a
    backslash (a separator to Windows extractors), a control character (NUL, newline, ...)
    or more than :data:`MAX_DEPTH` names is refused, so no path can leave the cart
    directory, and no member name can mean something else on another system.
    """
    if not isinstance(value, str):
        raise Invalid('{}.path must be a string, got {}'.format(where, _json_type(value)))
    text = value[1:] if value.startswith('/') else value
    if not text:
        raise Invalid('{}.path must not be empty'.format(where))
    if '\\' in text:
        raise Invalid('{}.path {!r} contains a backslash; use / between names'.format(
            where, _clip(value)))
    if _has_control(text):
        raise Invalid('{}.path {!r} contains a control character (NUL, tab, newline, '
                      '...)'.format(where, _clip(value)))
    if text.startswith('/'):
        raise Invalid('{}.path {!r} is absolute; give a path relative to the cart'.format(
            where, _clip(value)))
    names = text.split('/')
    if '..' in names:
        raise Invalid('{}.path {!r} contains a ".." component'.format(where, _clip(value)))
    normal = posixpath.normpath(text)
    if normal in ('.', '') or normal.startswith('/'):
        raise Invalid('{}.path {!r} names no file'.format(where, _clip(value)))
    try:
        encoded = normal.encode('utf-8')
    except UnicodeEncodeError:
        raise Invalid('{}.path {!r} is not valid Unicode text'.format(where, _clip(value))) from None
    if len(encoded) > MAX_PATH_BYTES or any(
            len(part) > MAX_NAME_BYTES for part in encoded.split(b'/')):
        raise Invalid('{}.path is too long (at most {} bytes per name, {} in all)'.format(
            where, MAX_NAME_BYTES, MAX_PATH_BYTES))
    if normal.count('/') >= MAX_DEPTH:
        raise Invalid('{}.path is too deep (at most {} names)'.format(where, MAX_DEPTH))
    return normal


def _has_control(text):
    # C0, DEL and C1 controls (Unicode category Cc); only non-ASCII text needs the lookup.
    if text.isascii():
        return not text.isprintable()
    return any(unicodedata.category(char) == 'Cc' for char in text)


def algorithms():
    """The ``hashtype`` names a cart accepts, sorted, in lower case (also the enum of the
    OpenAPI document); shake_* need a digest length, which the request cannot carry."""
    return sorted(name.lower() for name in hashlib.algorithms_available
                  if not name.lower().startswith('shake'))


def hash_type(value, where):
    """A hashlib algorithm name (case-insensitive); returns it in lower case."""
    if not isinstance(value, str):
        raise Invalid('{}.hashtype must be a string, got {}'.format(where, _json_type(value)))
    name = value.lower()
    if name not in algorithms():
        raise Invalid('{}.hashtype {!r} is not supported; use one of {}'.format(
            where, _clip(value), ', '.join(algorithms())))
    return name


def hash_sum(value, algorithm, where):
    """A hex digest of the right length for ``algorithm``; returns it in lower case."""
    if not isinstance(value, str):
        raise Invalid('{}.hashsum must be a string, got {}'.format(where, _json_type(value)))
    digits = hashlib.new(algorithm).digest_size * 2
    if len(value) != digits or not re.fullmatch(r'[0-9A-Fa-f]+', value):
        raise Invalid('{}.hashsum must be {} hexadecimal digits for {}'.format(
            where, digits, algorithm))
    return value.lower()


def cart_request(body, default_bundle):
    """Validate a POST body; returns ``(files, bundle)`` where files are dicts with the
    normalised ``id``, ``path``, ``hashtype`` and ``hashsum``. Nothing is accepted unless
    everything is valid."""
    if not isinstance(body, dict):
        raise Invalid('the body must be a JSON object with a "fileids" list, got {}'.format(
            _json_type(body)))
    if 'fileids' not in body:
        raise Invalid('"fileids" is required')
    items = body['fileids']
    if not isinstance(items, list):
        raise Invalid('"fileids" must be a list, got {}'.format(_json_type(items)))
    if len(items) > MAX_FILES:
        raise Invalid('a cart holds at most {} files'.format(MAX_FILES))
    files = []
    paths = set()
    for index, item in enumerate(items):
        where = 'fileids[{}]'.format(index)
        if not isinstance(item, dict):
            raise Invalid('{} must be an object, got {}'.format(where, _json_type(item)))
        for key in ('id', 'path', 'hashtype', 'hashsum'):
            if key not in item:
                raise Invalid('{} is missing "{}"'.format(where, key))
        algorithm = hash_type(item['hashtype'], where)
        entry = {
            'id': archive_id(item['id'], where),
            'path': cart_path(item['path'], where),
            'hashtype': algorithm,
            'hashsum': hash_sum(item['hashsum'], algorithm, where),
        }
        if entry['path'] in paths:
            raise Invalid('{}.path {!r} appears twice in the cart'.format(
                where, _clip(entry['path'])))
        paths.add(entry['path'])
        files.append(entry)
    _check_no_file_dir_clash(paths)
    return files, _bundle_flag(body, default_bundle)


def _bundle_flag(body, default):
    """``"bundle"``, when given, must be a JSON boolean (upstream took ``"false"`` as true)."""
    if 'bundle' not in body:
        return default
    if not isinstance(body['bundle'], bool):
        raise Invalid('"bundle" must be true or false, got {}'.format(_json_type(body['bundle'])))
    return body['bundle']


def _check_no_file_dir_clash(paths):
    """A path that is also the directory of another (``a`` and ``a/b``) cannot be staged.

    With ``/`` sorted before every other character (paths hold no NUL, so NUL stands for
    it), the paths under ``a/`` come right after ``a``: comparing neighbours finds every
    clash in one sort, instead of looking up each parent of each path (quadratic in the
    depth).
    """
    ordered = sorted(path.replace('/', '\x00') for path in paths)
    for first, second in zip(ordered, ordered[1:]):
        if second.startswith(first + '\x00'):
            raise Invalid('path {!r} is both a file and the directory of {!r}'.format(
                _clip(first.replace('\x00', '/')), _clip(second.replace('\x00', '/'))))


def download_name(filename, default):
    """The ``filename`` query parameter as a safe base name; returns ``(name, prefix)``
    where the member prefix drops one trailing ``.tar`` (upstream removed every ``.tar``).

    A name with a path separator is refused rather than cut down, so a client asking for
    ``../../x`` learns that it cannot have it (upstream put ``../../x/`` in the members).
    """
    name = default if filename is None else filename
    if not isinstance(name, str):
        raise Invalid("parameter 'filename' was given more than once")
    if '/' in name or '\\' in name:
        raise Invalid('parameter filename={!r} must be a plain file name without / or '
                      '\\'.format(_clip(name)))
    if not name or name in ('.', '..') or any(ord(ch) < 32 or ord(ch) == 127 for ch in name):
        raise Invalid('parameter filename={!r} is not a usable file name'.format(_clip(name)))
    if len(name.encode('utf-8', 'surrogatepass')) > MAX_NAME_BYTES:
        raise Invalid("parameter 'filename' is longer than {} bytes".format(MAX_NAME_BYTES))
    prefix = name[:-len('.tar')] if name.endswith('.tar') else name
    if not prefix or prefix in ('.', '..'):
        raise Invalid('parameter filename={!r} leaves no name for the tar members'.format(
            _clip(name)))
    return name, prefix


def _json_type(value):
    return {dict: 'an object', list: 'a list', str: 'a string', bool: 'a boolean',
            int: 'an integer', float: 'a number', type(None): 'null'}.get(
                type(value), type(value).__name__)


def _clip(text, limit=80):
    text = str(text)
    return text if len(text) <= limit else text[:limit] + '...'

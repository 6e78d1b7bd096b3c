"""Declarative service configuration.

A service declares its INI keys once, as data (:class:`Key`). Loading follows the upstream
precedence: the environment variable supplies the default and a value in the INI file overrides
it. The file is read once per process (upstream re-read it on every access) and the resulting
:class:`Config` is passed to whatever needs it.
"""
import os
import re
from configparser import ConfigParser, Error as ConfigParserError
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional, Tuple


class ConfigError(ValueError):
    """A configuration value or file that cannot be used; the message names the key."""


_BOOLEANS = {
    '1': True, 'yes': True, 'true': True, 'on': True,
    '0': False, 'no': False, 'false': False, 'off': False,
}


def parse_bool(text: str) -> bool:
    """Parse an INI boolean the way configparser does (case-insensitive)."""
    try:
        return _BOOLEANS[str(text).strip().lower()]
    except KeyError:
        raise ValueError('not a boolean (use 1/yes/true/on or 0/no/false/off)') from None


_SIZE_UNITS = {
    'B': 1, 'KB': 10 ** 3, 'MB': 10 ** 6, 'GB': 10 ** 9, 'TB': 10 ** 12,
    'b': 1, 'Kb': 1024, 'Mb': 1024 ** 2, 'Gb': 1024 ** 3, 'Tb': 1024 ** 4,
}
_SIZE_RE = re.compile(r'^\s*([0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s+(\S+)\s*$')


def parse_size(text: str) -> int:
    """Parse the upstream size syntax ``"<number> <unit>"`` (``4 Mb``) to bytes.

    Decimal units are upper case (``KB`` = 1000), binary ones mixed case (``Kb`` = 1024);
    the number may be fractional and the result is truncated, as upstream does.
    """
    match = _SIZE_RE.match(str(text))
    if not match or match.group(2) not in _SIZE_UNITS:
        raise ValueError(
            'not a size (write "<number> <unit>" with a space, unit one of {})'.format(
                ', '.join(_SIZE_UNITS)))
    return int(float(match.group(1)) * _SIZE_UNITS[match.group(2)])


def parse_decimal_int(text: str, max_digits: int = 30) -> int:
    """Decimal text as Python's ``int()`` reads it (surrounding spaces, a sign) and nothing
    else: no floats, underscores, non-ASCII digits, or more than ``max_digits`` digits."""
    text = str(text).strip()
    digits = text[1:] if text[:1] in '+-' else text
    if not digits or len(digits) > max_digits or not digits.isascii() or not digits.isdigit():
        raise ValueError('not an integer')
    return int(text)


def _parse_int(text: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise ValueError('not an integer') from None


def _parse_float(text: str) -> float:
    try:
        return float(str(text).strip())
    except ValueError:
        raise ValueError('not a number') from None


def _parse_count(text: str) -> int:
    value = _parse_int(text)
    if value < 1:
        raise ValueError('must be at least 1')
    return value


def _parse_seconds(text: str) -> float:
    value = _parse_float(text)
    if not 0 < value < float('inf'):
        raise ValueError('must be a number of seconds above 0')
    return value


PARSERS: Dict[str, Callable[[str], Any]] = {
    'str': str,
    'int': _parse_int,
    'float': _parse_float,
    'bool': parse_bool,
    'size': parse_size,
    'count': _parse_count,        # an integer >= 1
    'seconds': _parse_seconds,    # a float > 0
}


@dataclass(frozen=True)
class Key:
    """One INI key: ``[section] name``, its built-in default, the env var that overrides
    the default, its type (a name in :data:`PARSERS`) and a line of help."""

    section: str
    name: str
    default: str
    env: Optional[str] = None
    type: str = 'str'
    help: str = ''

    @property
    def dotted(self) -> str:
        """``section.name``, as the docs spell keys."""
        return '{}.{}'.format(self.section, self.name)

    def parse(self, raw: str, origin: str) -> Any:
        """Convert ``raw`` to this key's type; the error names the key and where it came from."""
        try:
            return PARSERS[self.type](raw)
        except ValueError as exc:
            raise ConfigError('{} = {!r} ({}): {}'.format(self.dotted, raw, origin, exc)) from None


class Config:
    """Typed, immutable configuration values of one service."""

    def __init__(self, values: Dict[Tuple[str, str], Any], path: Optional[str] = None):
        self._values = dict(values)
        self.path = path

    def get(self, section: str, name: str) -> Any:
        """The value of ``[section] name``; a key that was never declared is a programming error."""
        return self._values[(section, name)]

    def has(self, section: str, name: str) -> bool:
        """Whether the service declared ``[section] name``."""
        return (section, name) in self._values

    def section(self, section: str) -> Dict[str, Any]:
        """All declared keys of one section as a dict."""
        return {name: value for (sec, name), value in self._values.items() if sec == section}


def default_config_path(service: str, env_var: str) -> str:
    """Where a service looks for its INI: ``$<SERVICE>_CONFIG`` or ``~/.pacifica-<service>/config.ini``."""
    return os.environ.get(env_var) or os.path.join(
        os.path.expanduser('~'), '.pacifica-{}'.format(service), 'config.ini')


def read_ini(path: str) -> ConfigParser:
    """Read an INI file with standard ``%`` interpolation; a missing file reads as empty."""
    parser = ConfigParser()
    if path and os.path.exists(path):
        try:
            with open(path, encoding='utf-8') as handle:
                parser.read_file(handle, source=path)
        except (OSError, UnicodeDecodeError, ConfigParserError) as exc:
            raise ConfigError('cannot read config file {}: {}'.format(path, exc)) from None
    return parser


def load(keys: Iterable[Key], path: Optional[str] = None,
         environ: Optional[Dict[str, str]] = None) -> Config:
    """Build a :class:`Config`: built-in default < env var < INI file at ``path``.

    Every value is parsed at load time, so a bad value stops start-up with the key's name
    rather than failing on first use.
    """
    environ = os.environ if environ is None else environ
    parser = read_ini(path) if path else ConfigParser()
    values = {}
    for key in keys:
        raw, origin = key.default, 'default'
        if key.env and key.env in environ:
            raw, origin = environ[key.env], 'environment variable {}'.format(key.env)
        if parser.has_option(key.section, key.name):
            try:
                raw = parser.get(key.section, key.name)
            except ConfigParserError as exc:
                raise ConfigError('{} ({}): {}'.format(key.dotted, path, exc)) from None
            origin = path
        values[(key.section, key.name)] = key.parse(raw, origin)
    return Config(values, path)


def is_cherrypy_config(path: str) -> bool:
    """True when an INI file is a CherryPy config (``[global]`` or ``[/...]`` sections).

    The upstream docs disagree on what ``-c`` names (the CherryPy file for uniqueid and
    proxy, the service INI for metadata and cartd); deployments use both, so ``-c`` accepts
    either and this decides which it is.
    """
    parser = ConfigParser(interpolation=None)
    try:
        with open(path, encoding='utf-8') as handle:
            parser.read_file(handle, source=path)
    except (OSError, UnicodeDecodeError, ConfigParserError) as exc:
        raise ConfigError('cannot read config file {}: {}'.format(path, exc)) from None
    return any(name == 'global' or name.startswith('/') for name in parser.sections())


DATABASE_KEYS = (
    Key('database', 'peewee_url', 'sqliteext:///db.sqlite3', 'PEEWEE_URL',
        help='peewee database URL (sqlite:///, sqliteext:///, postgresql://, mysql://, +pool)'),
    Key('database', 'connect_attempts', '10', 'DATABASE_CONNECT_ATTEMPTS', 'int',
        help='connection tries at start-up before giving up'),
    Key('database', 'connect_wait', '20', 'DATABASE_CONNECT_WAIT', 'float',
        help='seconds between connection tries'),
    Key('database', 'debug_logging', 'False', 'DATABASE_DEBUG_LOGGING', 'bool',
        help='log every SQL statement'),
)
"""The ``[database]`` keys every database-backed service shares."""


def server_keys(prefix: str, max_request_body: str, body_timeout: str = '30',
                header_timeout: str = '10', thread_pool: str = '16') -> Tuple[Key, ...]:
    """The ``[server]`` keys of the common server shape (``pacifica-<service>``), with this
    service's defaults and env vars named ``<PREFIX>_<KEY>`` (``UNIQUEID_THREAD_POOL``).

    A CherryPy config file's ``server.max_request_body_size``, ``server.socket_timeout`` and
    ``server.thread_pool`` still win over these, so existing deployment files keep working.
    """
    return (
        Key('server', 'max_request_body', max_request_body, prefix + '_MAX_REQUEST_BODY',
            'size', help='largest request body ("<number> <unit>", "0 B": no limit); a '
                         'larger one is answered 413 before it is read'),
        Key('server', 'header_timeout', header_timeout, prefix + '_HEADER_TIMEOUT', 'seconds',
            help='seconds a request may take to send its headers (then 408), and that an '
                 'idle keep-alive connection is kept'),
        Key('server', 'body_timeout', body_timeout, prefix + '_BODY_TIMEOUT', 'seconds',
            help='seconds each read of a request body or write of a response may wait'),
        Key('server', 'thread_pool', thread_pool, prefix + '_THREAD_POOL', 'count',
            help='worker threads answering requests (slow clients do not hold one while '
                 'they send their headers)'),
    )

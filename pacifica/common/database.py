"""Database URLs, connections and the per-request connection tool.

Every service binds its models to a :class:`peewee.DatabaseProxy`; nothing connects at import.
At start-up the service calls :func:`open_database` with its configured URL and initialises the
proxy with the result. Databases are always pooled: a request "connects" by taking one of the
pool's open connections, so no request pays for a new database connection.
"""
import contextlib
import fcntl
import importlib
import logging
import os
import sys
import threading
import time
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

LOGGER = logging.getLogger(__name__)

# Drivers peewee imports eagerly when they are installed. A service that only uses SQLite
# (uniqueid on embedded defaults) must not load psycopg2, so peewee is imported with them
# hidden and the PostgreSQL driver is attached on first use (see _attach_psycopg2).
_LAZY_DRIVERS = ('psycopg2', 'psycopg2cffi', 'psycopg', 'pymysql', 'MySQLdb')


class _HideDrivers:
    """A meta-path finder that makes the database drivers look absent while peewee imports."""

    @staticmethod
    def find_spec(fullname, path=None, target=None):  # pylint: disable=unused-argument
        """Refuse the drivers' top-level modules."""
        if fullname.split('.')[0] in _LAZY_DRIVERS:
            raise ImportError('{} is loaded on demand'.format(fullname))
        return None


def _import_peewee():
    if 'peewee' in sys.modules:
        return sys.modules['peewee']
    loaded = [name for name in _LAZY_DRIVERS if name in sys.modules]
    finder = _HideDrivers()
    if not loaded:
        sys.meta_path.insert(0, finder)
    try:
        return importlib.import_module('peewee')
    finally:
        if finder in sys.meta_path:
            sys.meta_path.remove(finder)


peewee = _import_peewee()
from playhouse import pool  # noqa: E402  pylint: disable=wrong-import-position


class DatabaseURLError(ValueError):
    """A database URL that cannot be used."""


class ConnectError(RuntimeError):
    """The database could not be reached within the configured attempts."""


def _attach_psycopg2():
    """Give peewee the psycopg2 driver it was imported without."""
    if peewee.psycopg2 is not None:
        return
    try:
        import psycopg2  # pylint: disable=import-outside-toplevel
        from psycopg2 import extensions, extras  # pylint: disable=import-outside-toplevel
    except ImportError as exc:
        raise DatabaseURLError(
            'PostgreSQL URLs need psycopg2 (pip install psycopg2-binary): {}'.format(exc)) from None
    extras.register_uuid()
    peewee.psycopg2 = psycopg2
    peewee.pg_extensions = extensions
    peewee.Json_pg2 = extras.Json
    adapter = peewee.Psycopg2Adapter
    adapter.txn_idle = extensions.TRANSACTION_STATUS_IDLE
    adapter.txn_inerror = extensions.TRANSACTION_STATUS_INERROR
    adapter.txn_unknown = extensions.TRANSACTION_STATUS_UNKNOWN


def _attach_mysql():
    if peewee.mysql is not None:
        return
    try:
        peewee.mysql = importlib.import_module('pymysql')
    except ImportError:
        try:
            peewee.mysql = importlib.import_module('MySQLdb')
        except ImportError:
            raise DatabaseURLError('MySQL URLs need pymysql (pip install pymysql)') from None


class PooledPostgresql(pool.PooledPostgresqlDatabase):
    """peewee's PostgreSQL pool without the ``SELECT 1`` it sends on every checkout.

    That ping doubled the round trips of a one-statement request. A connection is judged
    by what psycopg2 knows locally (closed flag, transaction status); one the server dropped
    is found by the next statement, which raises, and :func:`connection_lost` lets the
    caller discard it and retry where a retry is safe.
    """

    def _is_closed(self, conn):
        if conn.closed:
            return True
        status = self._adapter.txn_status(conn)
        if status == self._adapter.txn_unknown:
            return True
        if status != self._adapter.txn_idle:
            try:
                self._adapter.rollback(conn)
            except Exception:  # pylint: disable=broad-except
                return True
        return False


# What a statement raises when the database is unreachable, locked or dropped the
# connection: worth a retry (the caller decides how).
TRANSIENT_ERRORS = (peewee.OperationalError, peewee.InterfaceError)


def connection_lost(database):
    """After a failed statement: True (and the connection discarded, with the pool's idle
    ones) when the connection itself is gone, so the statement may be retried on a fresh
    one."""
    db = getattr(database, 'obj', database)
    if db.is_closed():
        return False
    conn = db.connection()
    gone = bool(getattr(conn, 'closed', False))
    if not gone and isinstance(db, peewee.PostgresqlDatabase):
        gone = db._adapter.txn_status(conn) == db._adapter.txn_unknown  # pylint: disable=protected-access
    if gone:
        db.close()
        # Whatever dropped this connection (a server restart, a failover) dropped the idle
        # ones beside it too: discard them rather than meet them one failed request at a time.
        if hasattr(db, 'close_idle'):
            db.close_idle()
    return gone


# Every scheme is served by a pooled class; '+pool' spellings are accepted for compatibility.
_SCHEMES = {
    'sqlite': ('sqlite', pool.PooledSqliteDatabase),
    'sqliteext': ('sqlite', pool.PooledSqliteDatabase),
    'postgres': ('postgresql', PooledPostgresql),
    'postgresql': ('postgresql', PooledPostgresql),
    'postgresext': ('postgresql', PooledPostgresql),
    'postgresqlext': ('postgresql', PooledPostgresql),
    'mysql': ('mysql', pool.PooledMySQLDatabase),
}

SQLITE_BUSY_TIMEOUT = 30  # seconds a writer waits for SQLite's write lock


def _query_value(value):
    lowered = value.lower()
    if lowered in ('true', 'false'):
        return lowered == 'true'
    if value.isdigit():
        return int(value)
    return value


def redact(url):
    """``url`` with its password (if any) replaced by ``***``: for messages and logs."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return '<a database URL that cannot be read>'
    if '@' not in parts.netloc:
        return url
    userinfo, host = parts.netloc.rsplit('@', 1)
    if ':' not in userinfo:
        return url
    return urlunsplit((parts.scheme, userinfo.split(':', 1)[0] + ':***@' + host, parts.path,
                       parts.query, parts.fragment))


def describe(database):
    """A database's address for messages: ``postgresql://user@host:port/name`` or the SQLite
    file, never a password."""
    db = getattr(database, 'obj', database)
    family = family_of(db)
    if family == 'sqlite':
        return 'sqlite:///{}'.format(db.database)
    params = db.connect_params
    host = params.get('host') or 'localhost'
    if params.get('port'):
        host = '{}:{}'.format(host, params['port'])
    user = params.get('user')
    return '{}://{}{}/{}'.format(family, user + '@' if user else '', host, db.database)


def _scrub(text, database):
    """``text`` with the database's password (should a driver ever echo it) masked."""
    db = getattr(database, 'obj', database)
    params = getattr(db, 'connect_params', None) or {}
    for key in ('password', 'passwd'):
        if params.get(key):
            text = text.replace(str(params[key]), '***')
    return text


def parse_url(url):
    """Split a peewee database URL into ``(family, database class, connect kwargs)``.

    Accepts every spelling the upstream docs use: ``sqlite:///file``, ``sqliteext:///file``
    (the documented default, which peewee 4 no longer registers), ``sqlite:///:memory:``,
    ``postgres://``, ``postgresql://``, ``mysql://`` and the ``+pool`` variants.
    """
    if not isinstance(url, str) or '://' not in url:
        # Not echoed: without a scheme nothing tells a password from the rest.
        raise DatabaseURLError('not a database URL (write scheme://[user[:password]@]host'
                               '[:port]/database or sqlite:///path)')
    try:
        parts = urlsplit(url)
        parts.port  # pylint: disable=pointless-statement
    except ValueError as exc:
        raise DatabaseURLError('database URL {} cannot be read: {}'.format(
            redact(url), exc)) from None
    scheme = parts.scheme.lower()
    if scheme.endswith('+pool'):
        scheme = scheme[:-len('+pool')]
    if scheme not in _SCHEMES:
        raise DatabaseURLError('unsupported database URL scheme {!r} (use one of {})'.format(
            parts.scheme, ', '.join(sorted(_SCHEMES))))
    family, klass = _SCHEMES[scheme]
    database = unquote(parts.path[1:]) if parts.path.startswith('/') else unquote(parts.path)
    kwargs = {}
    if family == 'sqlite':
        if parts.netloc:
            # sqlite://db.sqlite3 (two slashes) would silently name a host; refuse it.
            raise DatabaseURLError(
                'SQLite URLs take three slashes: sqlite:///relative.db or sqlite:////abs/path.db')
        database = database or ':memory:'
    else:
        if not database:
            raise DatabaseURLError('database URL {} names no database'.format(redact(url)))
        if parts.username:
            kwargs['user'] = unquote(parts.username)
        if parts.password:
            kwargs['passwd' if family == 'mysql' else 'password'] = unquote(parts.password)
        if parts.hostname:
            kwargs['host'] = parts.hostname
        if parts.port:
            kwargs['port'] = parts.port
    for key, value in parse_qsl(parts.query, keep_blank_values=True):
        kwargs[key] = _query_value(value)
    return family, klass, database, kwargs


def open_database(url, max_connections=64):
    """Build (without connecting) a pooled peewee database for ``url``.

    SQLite gets WAL journaling, a busy timeout and foreign keys; ``synchronous=FULL`` keeps
    every acknowledged commit through a power cut, which the unique-ID counter depends on.
    """
    family, klass, database, kwargs = parse_url(url)
    kwargs.setdefault('stale_timeout', 300)
    kwargs.setdefault('timeout', 30)  # wait this long for a free pooled connection
    if family == 'sqlite':
        pragmas = {
            'journal_mode': 'wal',
            'foreign_keys': 1,
            'synchronous': 'full',
            'busy_timeout': SQLITE_BUSY_TIMEOUT * 1000,
        }
        kwargs.setdefault('returning_clause', peewee.sqlite3.sqlite_version_info >= (3, 35, 0))
        return klass(database, max_connections=max_connections, pragmas=pragmas,
                     check_same_thread=False, **kwargs)
    if family == 'postgresql':
        _attach_psycopg2()
    else:
        _attach_mysql()
    return klass(database, max_connections=max_connections, **kwargs)


def family_of(database):
    """``'sqlite'``, ``'postgresql'`` or ``'mysql'`` for a (possibly proxied) database."""
    db = getattr(database, 'obj', database)
    if isinstance(db, peewee.SqliteDatabase):
        return 'sqlite'
    if isinstance(db, peewee.PostgresqlDatabase):
        return 'postgresql'
    return 'mysql'


class _SqliteWriteLock:
    """Serialises writers on one SQLite file: a thread lock within the process and an
    ``flock`` on ``<file>-writelock`` across processes (uWSGI workers, a second instance).

    Without it, SQLite's own busy handler makes waiting writers sleep in steps of up to
    100 ms; a blocked ``flock`` wakes the next writer the moment the lock is free. The
    busy timeout stays in place, so correctness never depends on this lock. Not reentrant.
    """

    def __init__(self, path):
        self._thread_lock = threading.Lock()
        self._fd = None
        if path and path != ':memory:' and not path.startswith('file:'):
            self._fd = os.open(path + '-writelock', os.O_RDWR | os.O_CREAT, 0o600)

    def __enter__(self):
        self._thread_lock.acquire()  # pylint: disable=consider-using-with
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)
            except OSError:
                self._thread_lock.release()
                raise
        return self

    def __exit__(self, *exc):
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()


_WRITE_LOCKS = {}
_WRITE_LOCKS_GUARD = threading.Lock()


def write_lock(database):
    """A context manager that serialises writers on SQLite (a no-op elsewhere).

    Wrap short write statements in it; see :class:`_SqliteWriteLock` for why.
    """
    db = getattr(database, 'obj', database)
    if not isinstance(db, peewee.SqliteDatabase):
        return contextlib.nullcontext()
    # Keyed by process too: a lock made before a fork (uWSGI loads the app, then forks
    # its workers) would share one open file between processes, and flock with it.
    key = (os.getpid(), id(db))
    with _WRITE_LOCKS_GUARD:
        if key not in _WRITE_LOCKS:
            _WRITE_LOCKS[key] = _SqliteWriteLock(db.database)
        return _WRITE_LOCKS[key]


def quote(database, name):
    """Quote an identifier for ``database`` (``"index"``, or backticks on MySQL)."""
    db = getattr(database, 'obj', database)
    left, right = db.quote[0], db.quote[-1]
    return left + name + right


# Connection failures that waiting cannot cure: the server answered, and said no (PostgreSQL,
# MySQL), or the SQLite file cannot be opened. Anything else (refused, timed out, starting up,
# too many clients, a name not resolving yet) is retried.
_PERMANENT_FAILURES = (
    'authentication failed', 'does not exist', 'no pg_hba.conf entry', 'invalid dsn',
    'invalid connection option', 'invalid sslmode', 'unsupported frontend protocol',
    'permission denied', 'access denied', 'unknown database',
    'unable to open database file', 'file is not a database', 'is not a database',
)


def is_permanent(exc):
    """Whether a failed connect can only fail the same way when tried again."""
    text = str(exc).lower()
    return any(marker in text for marker in _PERMANENT_FAILURES)


def connect_with_retry(database, attempts, wait, sleep=time.sleep):
    """Connect, retrying connection-level failures ``attempts`` times ``wait`` seconds apart.

    Raises :class:`ConnectError` (``Failed database connect retry.``, as upstream) when the
    database is still unreachable, and at once, without retrying, when the database refused
    in a way that cannot change (authentication, no such role or database, a file that cannot
    be opened). Messages name the database by :func:`describe`, never with its password.
    """
    attempts = max(1, int(attempts))
    last = None
    for attempt in range(attempts):
        try:
            database.connect(reuse_if_open=True)
            database.execute_sql('SELECT 1')
            return database
        except peewee.OperationalError as exc:
            last = _scrub(' '.join(str(exc).split()), database)
            if not database.is_closed():
                database.close()
            if is_permanent(exc):
                raise ConnectError('Failed database connect to {} (not retried): {}'.format(
                    describe(database), last)) from None
            LOGGER.warning('database connect attempt %d/%d failed: %s', attempt + 1, attempts,
                           last)
            if attempt + 1 < attempts:
                sleep(wait)
    raise ConnectError('Failed database connect retry. ({}: {})'.format(describe(database),
                                                                        last))


def enable_debug_logging():
    """Log every SQL statement peewee sends (``database.debug_logging``)."""
    logger = logging.getLogger('peewee')
    logger.setLevel(logging.DEBUG)
    if not logger.handlers:
        logger.addHandler(logging.StreamHandler())


def request_tool(database, name):
    """Register and return the CherryPy tool ``tools.<name>`` that gives a request's pooled
    connection back when the request ends.

    Nothing is taken up front: peewee opens (takes from the pool) a connection on a
    request's first query, so requests that never touch the database (``GET /``, a 400 for a
    bad parameter) cost the pool nothing. The hook runs also when the handler raised, so a
    failed request never strands a connection or leaves a transaction open. Turn it on with
    ``tools.<name>.on: True`` (the app builder does).
    """
    import cherrypy  # pylint: disable=import-outside-toplevel

    def give_back():
        if database.is_closed():
            return
        try:
            if database.in_transaction():
                # A transaction block still open here (a generator holding peewee's
                # atomic() that the server has not closed yet): end it, and forget it, or
                # close() refuses and the thread keeps the connection.
                LOGGER.warning('a request ended with its transaction open: rolled back')
                database.rollback()
        finally:
            while database.in_transaction():
                database.pop_transaction()
            database.close()

    tool = cherrypy.Tool('on_end_request', give_back, name=name)
    setattr(cherrypy.tools, name, tool)
    return tool

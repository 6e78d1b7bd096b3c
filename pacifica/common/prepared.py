"""Server-side prepared statements on PostgreSQL, for statements a service runs over and over.

psycopg2 sends every statement as text, so PostgreSQL parses and plans it each time; for the
one-row reads of the metadata service planning cost more than running the query. On
PostgreSQL :func:`execute` turns a statement into ``PREPARE`` (the first time a connection
sees its SQL) and ``EXECUTE`` (every time after); elsewhere it is ``execute_sql`` as before
(sqlite3 caches its compiled statements itself).

- The first use sends ``PREPARE ...; EXECUTE ...`` as one message: no extra round trip.
- What a connection has prepared is kept with that connection object (a weak key): a
  connection the pool closes takes its statements with it, one it hands out again keeps them.
- Parameters are declared with the type psycopg2 gives their value in plain SQL (an int is a
  ``bigint``, a datetime a ``timestamp``, a string is left to the context), so a statement
  means what it meant unprepared.
- Each connection prepares at most :data:`MAX_STATEMENTS`; the next one first drops them all
  (``DEALLOCATE ALL``, in the same message), so SQL that varies (IN lists of every length)
  cannot grow the server's memory without bound.
- A failed first use leaves it unknown whether the name exists on the server, so that name is
  never used again (it counts towards the bound until the next ``DEALLOCATE ALL``).
- A statement the database can only prepare with types it cannot infer is run as plain SQL
  from then on. Inside a transaction the ``PREPARE`` of a first use sits between a
  ``SAVEPOINT`` and its ``RELEASE`` (in the same message, before the ``EXECUTE``), so a
  failed ``PREPARE`` is rolled back alone and the transaction goes on: a streamed GET reads
  in one, and must not fail where plain SQL answers.
- A prepared statement whose tables changed under it ("cached plan must not change result
  type", after a migration or a test that recreates a table) or that the server no longer
  knows (someone ran ``DISCARD ALL``) is prepared again and run once more, when no
  transaction is open (inside one the error has aborted it; it is raised, and the statement
  is prepared afresh next time).

Use it for statements whose SQL text repeats with different parameters (peewee's queries do:
values are always bound). Each call is logged and passed to peewee's query hooks once, with
the original SQL, exactly like ``execute_sql``, so statement counts keep their meaning.
"""
import datetime
import decimal
import re
import threading
import time
import uuid
import weakref

from .database import peewee

MAX_STATEMENTS = 200
PREFIX = 'pacifica_'
ENABLED = True
"""False: :func:`execute` is ``execute_sql`` on every database (``[database]
prepared_statements``: pgbouncer in transaction pooling mode cannot keep SQL-level
``PREPARE`` with a client's connection)."""

_PLACEHOLDER = re.compile(r'%[%s]')
# SQLSTATEs after which a statement is run as plain SQL (its parameters' types cannot be
# told without their values), or prepared again (the server lost or outgrew the old plan).
_UNPREPARABLE = ('42P18', '42P08', '42725')
_STALE = ('0A000', '26000')


class _Statements:
    """What one connection has prepared: {(sql, parameter types): name}, the statements run
    plain, how many
    names were used since the last ``DEALLOCATE ALL``, and the last name's number."""

    __slots__ = ('names', 'plain', 'used', 'serial')

    def __init__(self):
        self.names = {}
        self.plain = set()
        self.used = 0
        self.serial = 0   # names are never reused, whatever the server still holds


_BY_CONNECTION = weakref.WeakKeyDictionary()
_GUARD = threading.Lock()


def _statements(conn):
    state = _BY_CONNECTION.get(conn)
    if state is None:
        with _GUARD:
            state = _BY_CONNECTION.setdefault(conn, _Statements())
    return state


def _numbered(sql):
    """``sql`` with psycopg2's ``%s`` placeholders as ``$1, $2, ...`` (``%%`` kept: the text
    still goes through psycopg2's formatting, with the EXECUTE's parameters)."""
    count = 0

    def number(match):
        nonlocal count
        if match.group() == '%%':
            return '%%'
        count += 1
        return '${}'.format(count)
    return _PLACEHOLDER.sub(number, sql), count


def _execute_text(name, count):
    if not count:
        return 'EXECUTE ' + name
    return 'EXECUTE {} ({})'.format(name, ', '.join(['%s'] * count))


def _idle(db, conn):
    return db._adapter.txn_status(conn) == db._adapter.txn_idle  # pylint: disable=protected-access


# The declared type of a parameter, from its Python type as psycopg2 writes it into plain SQL
# (an int as a number, a datetime as '...'::timestamp): the statement then means what the
# plain one meant. Left to inference, a parameter takes its column's type, and a value that
# does not fit that type (2147483648 against an INTEGER column: no row) became an error.
_TYPES = {bool: 'boolean', float: 'numeric', decimal.Decimal: 'numeric',
          datetime.date: 'date', datetime.time: 'time', uuid.UUID: 'uuid', bytes: 'bytea'}
_BIGINT = range(-2 ** 63, 2 ** 63)


def _type(value):
    kind = type(value)
    if kind is int:
        return 'bigint' if value in _BIGINT else 'numeric'
    if kind is datetime.datetime:
        return 'timestamp' if value.tzinfo is None else 'timestamptz'
    return _TYPES.get(kind, 'unknown')   # str, None, ...: as in plain SQL, from the context


def _run_plain(cursor, state, key, params):
    if len(state.plain) >= MAX_STATEMENTS:
        state.plain.clear()
    state.plain.add(key)
    cursor.execute(key[0], params)


_SAVEPOINT = 'pacifica_prepare'


def _prepare_and_run(cursor, state, key, params, guarded=False):
    """PREPARE and EXECUTE in one message; ``guarded`` (a transaction is open): between a
    SAVEPOINT and its RELEASE, which the caller rolls back to if the PREPARE failed."""
    numbered, count = _numbered(key[0])
    if count != len(params):   # not a statement of psycopg2 placeholders only
        _run_plain(cursor, state, key, params)
        return
    head = 'SAVEPOINT {}; '.format(_SAVEPOINT) if guarded else ''
    if state.used >= MAX_STATEMENTS:
        head += 'DEALLOCATE ALL; '
        state.names.clear()
        state.used = 0
    state.used += 1
    state.serial += 1
    name = '{}{}'.format(PREFIX, state.serial)
    types = ' ({})'.format(', '.join(key[1])) if count else ''
    release = 'RELEASE SAVEPOINT {}; '.format(_SAVEPOINT) if guarded else ''
    # the EXECUTE comes last: the cursor holds the last statement's rows
    cursor.execute('{}PREPARE {}{} AS {}; {}{}'.format(
        head, name, types, numbered, release, _execute_text(name, count)), params)
    state.names[key] = name


def _run(db, cursor, conn, sql, params):
    state = _statements(conn)
    key = (sql, tuple(_type(value) for value in params))
    if key in state.plain:
        cursor.execute(sql, params)
        return
    name = state.names.get(key)
    if name is not None:
        try:
            cursor.execute(_execute_text(name, len(params)), params)
            return
        except peewee.psycopg2.Error as exc:
            if exc.pgcode not in _STALE:
                raise
            del state.names[key]
            if not _idle(db, conn):
                raise
    guarded = not _idle(db, conn)
    try:
        _prepare_and_run(cursor, state, key, params, guarded)
    except peewee.psycopg2.Error as exc:
        if exc.pgcode not in _UNPREPARABLE:
            raise   # as in plain SQL: the error stands (and aborts an open transaction)
        if guarded:
            # only the PREPARE failed (the message stopped there): back to before it, and
            # the transaction goes on
            cursor.execute('ROLLBACK TO SAVEPOINT {0}; RELEASE SAVEPOINT {0}'.format(
                _SAVEPOINT))
        _run_plain(cursor, state, key, params)


def enable(flag):
    """Turn prepared statements on or off for the process (see :data:`ENABLED`)."""
    global ENABLED  # pylint: disable=global-statement
    ENABLED = bool(flag)


def execute(database, sql, params=()):
    """Run ``sql`` with ``params`` like ``database.execute_sql`` and return the cursor; on
    PostgreSQL as a prepared statement of the connection in use (see the module)."""
    db = getattr(database, 'obj', database)
    if (not ENABLED or not isinstance(db, peewee.PostgresqlDatabase)
            or isinstance(params, dict)):
        return db.execute_sql(sql, params)
    params = tuple(params or ())
    db._log_query(sql, params)  # pylint: disable=protected-access
    start = time.perf_counter() if db.query_hooks else None
    try:
        with peewee.__exception_wrapper__:
            cursor = db.cursor()
            _run(db, cursor, db.connection(), sql, params)
    except Exception as exc:
        if start is not None:
            db._notify_hooks(sql, params, start, exc)  # pylint: disable=protected-access
        raise
    if start is not None:
        db._notify_hooks(sql, params, start, None)  # pylint: disable=protected-access
    return cursor


def execute_query(database, query):
    """:func:`execute` of a peewee query (``database.execute(query)``, prepared)."""
    db = getattr(database, 'obj', database)
    sql, params = db.get_sql_context().sql(query).query()
    return execute(db, sql, params)


def prepared_count(database):
    """How many statements the connection in use has prepared (for tests and diagnostics)."""
    db = getattr(database, 'obj', database)
    if not isinstance(db, peewee.PostgresqlDatabase):
        return 0
    state = _BY_CONNECTION.get(db.connection())
    return len(state.names) if state is not None else 0

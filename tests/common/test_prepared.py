"""pacifica.common.prepared: the same answers as execute_sql, on SQLite and PostgreSQL, and on
PostgreSQL statements prepared once per connection, surviving what a pooled connection meets
(reuse, a schema change, a failed transaction, a DISCARD ALL, many different statements)."""
import datetime
import logging
import uuid

import pytest

from pacifica.common import prepared
from pacifica.common.database import family_of, open_database, peewee


@pytest.fixture
def db(db_url):
    """A pooled database with a small table, connected in this thread."""
    database = open_database(db_url, max_connections=4)
    database.connect()
    database.execute_sql('CREATE TABLE "t" ("a" INTEGER, "b" VARCHAR(20), "c" TIMESTAMP)')
    database.execute_sql('INSERT INTO "t" VALUES (1, %s, NULL), (2, %s, %s)'.replace(
        '%s', database.param), ['one%', 'two', datetime.datetime(2020, 1, 2, 3, 4, 5)])
    yield database
    if not database.is_closed():
        database.close()
    database.close_all()


def _sql(db, sql):
    return sql.replace('%s', db.param).replace('%%', '%' if db.param == '?' else '%%')


def _server_names(db):
    """The names of the statements the connection in use has prepared on the server."""
    return sorted(row[0] for row in db.execute_sql(
        'SELECT name FROM pg_prepared_statements').fetchall())


def _postgres_only(db):
    if family_of(db) != 'postgresql':
        pytest.skip('prepared statements are a PostgreSQL matter (SQLite runs execute_sql)')


@pytest.mark.parametrize('sql, params', [
    ('SELECT "a", "b", "c" FROM "t" WHERE "a" = %s', [2]),
    ('SELECT "a" FROM "t" WHERE "b" LIKE %s ORDER BY "a"', ['%o%']),
    ('SELECT "a" FROM "t" WHERE "b" LIKE \'one%%\' AND "a" > %s', [0]),
    ('SELECT "a" FROM "t" WHERE "c" > %s OR "b" = %s', [datetime.datetime(2019, 1, 1), 'one%']),
    ('SELECT "a" FROM "t" WHERE "a" IN (%s, %s) AND "c" IS NULL', [1, 2]),
    ('SELECT "a" FROM "t" ORDER BY "a" LIMIT %s OFFSET %s', [1, 1]),
    ('SELECT count(*) FROM "t"', []),
    # values the column's type cannot hold: no row, as in plain SQL (not an error)
    ('SELECT "a" FROM "t" WHERE "a" = %s OR "a" = %s', [2147483648, 2 ** 40]),
    ('SELECT "a" FROM "t" WHERE "a" < %s OR "a" = %s', [1.5, 1.5]),
    ('SELECT "a" FROM "t" WHERE "b" = %s OR "a" = %s', [None, 1]),
])
def test_same_rows_as_execute_sql(db, sql, params):
    sql = _sql(db, sql)
    expected = db.execute_sql(sql, params).fetchall()
    for _ in range(3):   # the first use prepares, the next ones execute the prepared one
        assert prepared.execute(db, sql, params).fetchall() == expected


def test_a_query_and_its_values(db):
    """execute_query runs a peewee query (uuid and NULL values bound as parameters)."""
    class Thing(peewee.Model):  # pylint: disable=missing-class-docstring
        key = peewee.UUIDField(primary_key=True)
        note = peewee.TextField(null=True)

        class Meta:  # pylint: disable=missing-class-docstring,too-few-public-methods
            database = db
    db.create_tables([Thing])
    keys = [uuid.uuid4() for _ in range(3)]
    Thing.insert_many([{'key': k, 'note': None if n else 'x'} for n, k in enumerate(keys)]
                      ).execute()
    query = Thing.select(Thing.key).where(Thing.key.in_(keys[:2]) & Thing.note.is_null())
    for _ in range(2):
        rows = [Thing.key.python_value(r[0]) for r in prepared.execute_query(db, query)]
        assert rows == [keys[1]]


def test_prepared_once_and_logged_once_per_call(db):
    _postgres_only(db)
    sql = _sql(db, 'SELECT "b" FROM "t" WHERE "a" = %s')
    records = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger('peewee')
    level = logger.level
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    try:
        assert [prepared.execute(db, sql, [n]).fetchall() for n in (1, 2, 1)] == [
            [('one%',)], [('two',)], [('one%',)]]
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert [record.msg for record in records] == [(sql, (n,)) for n in (1, 2, 1)]
    assert _server_names(db) == ['pacifica_1'] and prepared.prepared_count(db) == 1


def test_a_pooled_connection_keeps_its_statements_a_new_one_starts_afresh(db):
    _postgres_only(db)
    sql = _sql(db, 'SELECT "b" FROM "t" WHERE "a" = %s')
    prepared.execute(db, sql, [1])
    first = db.connection()
    db.close()          # back to the pool
    db.connect()
    assert db.connection() is first and prepared.prepared_count(db) == 1
    assert prepared.execute(db, sql, [2]).fetchall() == [('two',)]
    assert _server_names(db) == ['pacifica_1']
    db.close()
    db.close_all()      # the pool's connections closed: a fresh one knows nothing
    db.connect()
    assert db.connection() is not first and prepared.prepared_count(db) == 0
    assert prepared.execute(db, sql, [1]).fetchall() == [('one%',)]
    assert _server_names(db) == ['pacifica_1']


def test_a_changed_table_is_prepared_again(db):
    """A column's type changing under a prepared statement (a migration, a test recreating a
    table): outside a transaction the statement is prepared again and answers; inside one the
    error aborts it, and the next use after the rollback answers."""
    sql = _sql(db, 'SELECT * FROM "t" WHERE "a" = %s')
    assert prepared.execute(db, sql, [1]).fetchall()[0][:2] == (1, 'one%')
    if family_of(db) == 'postgresql':
        db.execute_sql('ALTER TABLE "t" ALTER COLUMN "b" TYPE TEXT')
        db.execute_sql('ALTER TABLE "t" ADD COLUMN "d" INTEGER')
    else:
        db.execute_sql('ALTER TABLE "t" ADD COLUMN "d" INTEGER')
    assert prepared.execute(db, sql, [1]).fetchall() == [(1, 'one%', None, None)]
    db.execute_sql('DROP TABLE "t"')
    db.execute_sql('CREATE TABLE "t" ("a" INTEGER, "b" INTEGER)')
    db.execute_sql(_sql(db, 'INSERT INTO "t" VALUES (1, %s)'), [7])
    with pytest.raises(peewee.DatabaseError) if family_of(db) == 'postgresql' else _nothing():
        with db.atomic():
            assert prepared.execute(db, sql, [1]).fetchall() == [(1, 7)]
    assert prepared.execute(db, sql, [1]).fetchall() == [(1, 7)]


class _nothing:  # pylint: disable=invalid-name
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def test_discarded_statements_are_prepared_again(db):
    _postgres_only(db)
    sql = _sql(db, 'SELECT "b" FROM "t" WHERE "a" = %s')
    prepared.execute(db, sql, [1])
    db.execute_sql('DISCARD ALL')
    assert prepared.execute(db, sql, [2]).fetchall() == [('two',)]
    assert prepared.execute(db, sql, [1]).fetchall() == [('one%',)]


def test_a_failed_statement_fails_as_before_and_the_next_call_answers(db):
    sql = _sql(db, 'SELECT 10 / "a" FROM "t" WHERE "a" = %s OR "b" = %s')
    db.execute_sql(_sql(db, 'INSERT INTO "t" VALUES (0, %s, NULL)'), ['zero'])
    if family_of(db) == 'postgresql':
        for _ in range(2):   # a failed first use (PREPARE and EXECUTE), then a failed EXECUTE
            with pytest.raises(peewee.DataError):
                prepared.execute(db, sql, [0, 'x'])
            assert prepared.execute(db, sql, [2, 'x']).fetchall() == [(5,)]
        with pytest.raises(peewee.DataError):
            with db.atomic():
                prepared.execute(db, sql, [1, 'x'])
                prepared.execute(db, sql, [0, 'x'])
        assert not db.in_transaction()
    assert prepared.execute(db, sql, [2, 'x']).fetchall() == [(5,)]
    assert prepared.execute(db, sql, [1, 'one%']).fetchall() == [(10,)]


def test_statements_it_cannot_prepare_run_as_plain_sql(db):
    _postgres_only(db)
    sql = 'SELECT %s IS NULL, "a" FROM "t" WHERE "a" = 1'
    for value in (None, 3, None):
        assert prepared.execute(db, sql, [value]).fetchall() == [(value is None, 1)]
    assert _server_names(db) == ['pacifica_2']   # with a bigint: prepared; with NULL: plain


@pytest.mark.parametrize('begin', ['atomic', 'repeatable read'])
def test_inside_a_transaction_a_statement_it_cannot_prepare_answers_and_the_transaction_goes_on(
        db, begin):
    """The first use of an unpreparable statement inside a transaction (a streamed GET reads
    in REPEATABLE READ) answers as plain SQL would; the failed PREPARE is rolled back alone:
    what the transaction wrote before it is committed, and no savepoint is left behind."""
    _postgres_only(db)
    sql = 'SELECT %s IS NULL, count(*) FROM "t"'
    insert = 'INSERT INTO "t" VALUES (%s, %s, NULL)'
    if begin == 'atomic':
        context = db.atomic()
    else:
        db.begin(isolation_level='REPEATABLE READ')
        context = _nothing()
    with context:
        prepared.execute(db, insert, [7, 'seven'])
        for value in (None, None, 3):
            assert prepared.execute(db, sql, [value]).fetchall() == [(value is None, 3)]
        db.execute_sql('SAVEPOINT probe')   # so the transaction survives the probe's error
        with pytest.raises(peewee.DatabaseError, match='savepoint'):
            db.execute_sql('RELEASE SAVEPOINT pacifica_prepare')
        db.execute_sql('ROLLBACK TO SAVEPOINT probe')
        assert prepared.execute(db, insert, [8, 'eight']).rowcount == 1
    if begin != 'atomic':
        db.commit()
    assert not db.in_transaction()
    assert db.execute_sql('SELECT "a" FROM "t" ORDER BY "a"').fetchall() == [
        (1,), (2,), (7,), (8,)]
    assert prepared.execute(db, sql, [None]).fetchall() == [(True, 4)]


def test_a_first_use_that_fails_inside_a_transaction_still_aborts_it(db):
    """The savepoint guards only the PREPARE: an error of the statement itself aborts the
    transaction as in plain SQL, and nothing it wrote is kept."""
    _postgres_only(db)
    with pytest.raises(peewee.DataError):
        with db.atomic():
            prepared.execute(db, 'INSERT INTO "t" VALUES (%s, %s, NULL)', [9, 'nine'])
            prepared.execute(db, 'SELECT 10 / ("a" - %s) FROM "t"', [1])
    assert not db.in_transaction()
    assert db.execute_sql('SELECT count(*) FROM "t"').fetchall() == [(2,)]


def test_an_integer_beyond_bigint(db):
    _postgres_only(db)
    sql = 'SELECT "a" FROM "t" WHERE "a" = %s OR "a" < %s ORDER BY "a"'
    for _ in range(2):
        assert prepared.execute(db, sql, [-2 ** 70, 2 ** 70]).fetchall() == [(1,), (2,)]


def test_the_statements_of_a_connection_are_bounded(db, monkeypatch):
    _postgres_only(db)
    monkeypatch.setattr(prepared, 'MAX_STATEMENTS', 3)
    for count in range(1, 11):   # IN lists of every length: a statement each
        sql = 'SELECT "a" FROM "t" WHERE "a" IN ({}) ORDER BY "a"'.format(
            ', '.join(['%s'] * count))
        assert prepared.execute(db, sql, list(range(count))).fetchall() == [
            (n,) for n in (1, 2) if n < count]
        assert len(_server_names(db)) <= 3
    assert _server_names(db) == ['pacifica_10']


def test_sqlite_runs_execute_sql(db):
    if family_of(db) != 'sqlite':
        pytest.skip('the SQLite path')
    assert prepared.execute(db, 'SELECT "b" FROM "t" WHERE "a" = ?', [2]).fetchall() == [
        ('two',)]
    assert prepared.prepared_count(db) == 0


def test_turned_off_it_runs_execute_sql(db):
    prepared.enable(False)
    try:
        assert prepared.execute(db, _sql(db, 'SELECT "b" FROM "t" WHERE "a" = %s'),
                                [2]).fetchall() == [('two',)]
        assert prepared.prepared_count(db) == 0
    finally:
        prepared.enable(True)


@pytest.mark.parametrize('environ, enabled', [
    ({}, True), ({'DATABASE_PREPARED_STATEMENTS': 'false'}, False)])
def test_the_metadata_switch(tmp_path, environ, enabled):
    from pacifica.common import cli
    from pacifica.metadata.service import SERVICE
    environ = dict(environ, PEEWEE_URL='sqlite:///' + str(tmp_path / 'md.sqlite3'))
    try:
        cli.make_context(SERVICE, str(tmp_path / 'absent.ini'), environ=environ)
        assert prepared.ENABLED is enabled
    finally:
        prepared.enable(True)

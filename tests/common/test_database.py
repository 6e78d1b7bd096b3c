"""pacifica.common.database: URLs, pragmas, retrying connect."""
from urllib.parse import quote

import pytest
from hypothesis import example, given, settings, strategies as st

from pacifica.common import database
from pacifica.common.database import peewee


@pytest.mark.parametrize('url, family, name', [
    ('sqliteext:///db.sqlite3', 'sqlite', 'db.sqlite3'),
    ('sqlite:///db.sqlite3', 'sqlite', 'db.sqlite3'),
    ('sqlite:////abs/path.db', 'sqlite', '/abs/path.db'),
    ('sqlite:///:memory:', 'sqlite', ':memory:'),
    ('sqlite+pool:///x.db', 'sqlite', 'x.db'),
    ('postgres://u:p@h:5433/db', 'postgresql', 'db'),
    ('postgresql://u@h/db', 'postgresql', 'db'),
    ('postgresql+pool://u@h/db', 'postgresql', 'db'),
    ('postgresext://u@h/db', 'postgresql', 'db'),
    ('mysql://u:p@h:3306/db', 'mysql', 'db'),
])
def test_documented_urls(url, family, name):
    got_family, _klass, got_name, _kwargs = database.parse_url(url)
    assert (got_family, got_name) == (family, name)


def test_credentials_and_query_arguments():
    _f, _k, _n, kwargs = database.parse_url('postgresql://us%40r:p%2Fss@host:6000/db?'
                                            'connect_timeout=3&sslmode=disable')
    assert kwargs == {'user': 'us@r', 'password': 'p/ss', 'host': 'host', 'port': 6000,
                      'connect_timeout': 3, 'sslmode': 'disable'}
    _f, _k, _n, kwargs = database.parse_url('mysql://u:pw@h/db')
    assert kwargs['passwd'] == 'pw'


@pytest.mark.parametrize('url, words', [
    ('oracle://x/y', 'unsupported'),
    ('sqlite://db.sqlite3', 'three slashes'),
    ('postgresql://h/', 'names no database'),
    ('not a url', 'not a database URL'),
    (None, 'not a database URL'),
])
def test_bad_urls(url, words):
    with pytest.raises(database.DatabaseURLError, match=words):
        database.parse_url(url)


def test_sqlite_pragmas(tmp_path):
    db = database.open_database('sqliteext:///' + str(tmp_path / 'p.db'))
    with db.connection_context():
        assert db.execute_sql('PRAGMA journal_mode').fetchone()[0] == 'wal'
        assert db.execute_sql('PRAGMA foreign_keys').fetchone()[0] == 1
        assert db.execute_sql('PRAGMA synchronous').fetchone()[0] == 2  # FULL
        assert db.execute_sql('PRAGMA busy_timeout').fetchone()[0] == 30000
    assert database.family_of(db) == 'sqlite'


def test_connect_with_retry_gives_up_after_the_attempts():
    db = database.open_database('postgresql://nobody@127.0.0.1:1/none?connect_timeout=1')
    sleeps = []
    with pytest.raises(database.ConnectError, match='Failed database connect retry.'):
        database.connect_with_retry(db, 3, 0.5, sleep=sleeps.append)
    assert sleeps == [0.5, 0.5]


def test_connect_with_retry_succeeds(db_url):
    db = database.open_database(db_url)
    database.connect_with_retry(db, 1, 0)
    assert not db.is_closed()
    db.close()


def test_pool_reuses_connections(db_url):
    db = database.open_database(db_url)
    db.connect()
    first = db.connection()
    db.close()
    db.connect()
    assert db.connection() is first
    db.close()
    db.close_all()


def test_peewee_is_the_real_module():
    assert peewee.Model is not None and peewee.__version__.startswith('4.')


def test_sqlite_write_lock_excludes_other_processes(tmp_path):
    """A writer holding the lock in one process blocks a writer in another until release."""
    import multiprocessing  # pylint: disable=import-outside-toplevel
    import time  # pylint: disable=import-outside-toplevel
    url = 'sqliteext:///' + str(tmp_path / 'lock.db')
    db = database.open_database(url)
    ctx = multiprocessing.get_context('fork')
    acquired = ctx.Event()

    def child():
        child_db = database.open_database(url)
        with database.write_lock(child_db):
            acquired.set()

    with database.write_lock(db):
        proc = ctx.Process(target=child)
        proc.start()
        time.sleep(0.5)
        assert not acquired.is_set()
    proc.join(10)
    assert acquired.is_set() and proc.exitcode == 0
    assert (tmp_path / 'lock.db-writelock').exists()


def test_write_lock_is_a_no_op_off_sqlite():
    db = database.open_database('postgresql://nobody@127.0.0.1:1/none')
    with database.write_lock(db) as held:
        assert held is None


# -- passwords stay out of messages; only what waiting can cure is retried --------------------
# Marked at both ends, so that a password can never be a piece of the host or the path.
SECRETS = st.text(alphabet=st.characters(blacklist_categories=('Cs',),
                                         blacklist_characters='@/:?#[]%'),
                  max_size=20).map(lambda text: 'Q7pw' + text + 'wp7Q')


@settings(max_examples=60, deadline=None)
@given(password=SECRETS, tail=st.sampled_from(['', '/', '/?x=1', ':notaport/db', ':99999/db',
                                               '/db?sslmode=bogus']))
@example(password='hunter2', tail='/')
def test_no_message_names_the_password(password, tail):
    """Whatever is wrong with a URL, the message about it does not carry its password."""
    url = 'postgresql://user:{}@host{}'.format(quote(password, safe=''), tail)
    assert quote(password, safe='') not in database.redact(url)
    try:
        db = database.open_database(url)
    except database.DatabaseURLError as exc:
        assert password not in str(exc) and quote(password, safe='') not in str(exc)
        return
    assert password not in database.describe(db)


def test_redact_keeps_everything_but_the_password():
    assert database.redact('postgresql://u:pw@h:5/db?x=1') == 'postgresql://u:***@h:5/db?x=1'
    assert database.redact('postgresql://u@h/db') == 'postgresql://u@h/db'
    assert database.redact('sqliteext:///db.sqlite3') == 'sqliteext:///db.sqlite3'


@pytest.mark.parametrize('message, permanent', [
    ('FATAL:  password authentication failed for user "pacifica"', True),
    ('FATAL:  role "nobody" does not exist', True),
    ('FATAL:  database "nodb" does not exist', True),
    ('FATAL:  no pg_hba.conf entry for host "10.0.0.1", user "u", database "d"', True),
    ('unable to open database file', True),
    ("(1045, \"Access denied for user 'u'@'h' (using password: YES)\")", True),
    ('connection to server at "127.0.0.1", port 1 failed: Connection refused', False),
    ('timeout expired', False),
    ('FATAL:  the database system is starting up', False),
    ('FATAL:  sorry, too many clients already', False),
    ('could not translate host name "db" to address: Name or service not known', False),
    ('database is locked', False),
])
def test_what_is_worth_retrying(message, permanent):
    assert database.is_permanent(peewee.OperationalError(message)) is permanent


def test_a_permanent_failure_is_not_retried(tmp_path):
    db = database.open_database('sqliteext:///' + str(tmp_path / 'missing' / 'db.sqlite3'))
    sleeps = []
    with pytest.raises(database.ConnectError, match='not retried'):
        database.connect_with_retry(db, 10, 20, sleep=sleeps.append)
    assert sleeps == []


def test_the_request_tool_gives_back_a_connection_left_in_a_transaction(db_url):
    """A request that ends inside peewee's atomic() (a generator not closed yet): the tool
    rolls it back and returns the connection to the pool, instead of raising 'Attempting to
    close database while transaction is open' and leaving the thread holding it."""
    db = database.open_database(db_url)
    tool = database.request_tool(db, 'test_give_back')
    db.connect()
    db.execute_sql('CREATE TABLE "kept" ("a" INTEGER)')
    block = db.atomic()
    block.__enter__()   # pylint: disable=unnecessary-dunder-call
    db.execute_sql('INSERT INTO "kept" VALUES (1)')
    tool.callable()
    assert db.is_closed() and not db.in_transaction()
    assert not db._in_use  # pylint: disable=protected-access
    with db.connection_context():
        assert db.execute_sql('SELECT count(*) FROM "kept"').fetchone()[0] == 0
        db.execute_sql('DROP TABLE "kept"')
    db.close_all()

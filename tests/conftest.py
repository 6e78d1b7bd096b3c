"""Fixtures shared by every service's tests."""
import pytest

from support import POSTGRES_URL, create_postgres_database, drop_postgres_database

BACKENDS = ['sqlite', 'postgresql']


def _database(backend, directory):
    if backend == 'sqlite':
        return 'sqliteext:///' + str(directory / 'test.sqlite3'), None
    if not POSTGRES_URL:
        pytest.skip('PACIFICA_TEST_POSTGRES is not set (no PostgreSQL server to test against)')
    url = create_postgres_database()
    return url, url


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh, empty database URL: SQLite always, PostgreSQL when PACIFICA_TEST_POSTGRES is set."""
    url, to_drop = _database(request.param, tmp_path)
    yield url
    if to_drop:
        drop_postgres_database(to_drop)


@pytest.fixture(scope='module', params=BACKENDS)
def module_db_url(request, tmp_path_factory):
    """Like db_url, shared by the tests of one module (one server per backend per module)."""
    url, to_drop = _database(request.param, tmp_path_factory.mktemp('db'))
    yield url
    if to_drop:
        drop_postgres_database(to_drop)

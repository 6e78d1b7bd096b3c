"""Fixtures shared by every service's tests."""
import pytest

from support import (POSTGRES_URL, create_postgres_database, drop_postgres_database)

BACKENDS = ['sqlite', 'postgresql']


@pytest.fixture(params=BACKENDS)
def db_url(request, tmp_path):
    """A fresh, empty database URL: SQLite always, PostgreSQL when PACIFICA_TEST_POSTGRES is set."""
    if request.param == 'sqlite':
        yield 'sqliteext:///' + str(tmp_path / 'test.sqlite3')
        return
    if not POSTGRES_URL:
        pytest.skip('PACIFICA_TEST_POSTGRES is not set (no PostgreSQL server to test against)')
    url = create_postgres_database()
    try:
        yield url
    finally:
        drop_postgres_database(url)

"""Fixtures for the metadata tests: one real server per backend per module, an HTTP client
for it, a direct view of the database to prove what a request did (or did not) write, and
an event receiver for the modules that test notifications."""
import json

import pytest
import requests

from support import (POSTGRES_URL, EventReceiver, create_postgres_database,
                     drop_postgres_database, run_admin, service_env, start_service)

BACKENDS = ['sqlite', 'postgresql']


def admin(env, *args, cwd=None):
    """``pacifica-metadata-cmd ARGS``."""
    return run_admin('pacifica.metadata', list(args), env, cwd=cwd)


@pytest.fixture(scope='module', params=BACKENDS)
def md_db_url(request, tmp_path_factory):
    """A fresh database per module and backend (PostgreSQL only with PACIFICA_TEST_POSTGRES)."""
    if request.param == 'sqlite':
        yield 'sqliteext:///' + str(tmp_path_factory.mktemp('mddb') / 'metadata.sqlite3')
        return
    if not POSTGRES_URL:
        pytest.skip('PACIFICA_TEST_POSTGRES is not set (no PostgreSQL server to test against)')
    url = create_postgres_database('pacifica_md')
    yield url
    drop_postgres_database(url)


class Api:
    """A tiny client for one running metadata server."""

    def __init__(self, server, db_url):
        self.url = server.url
        self.server = server
        self.db_url = db_url
        self.session = requests.Session()

    def request(self, method, path, query='', body=None, raw=None, headers=None):
        """Send ``method /path?query`` with a JSON ``body`` (or ``raw`` bytes)."""
        hdrs = {'Content-Type': 'application/json'}
        hdrs.update(headers or {})
        data = raw if raw is not None else (None if body is None else json.dumps(body))
        return self.session.request(method, '{}/{}{}'.format(
            self.url, path, '?' + query if query else ''), data=data, headers=hdrs,
                                    timeout=30)

    def get(self, path, query=''):
        """GET, asserting 200, returning the JSON array."""
        resp = self.request('GET', path, query)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def ok(self, method, path, query='', body=None):
        """A write that must succeed with the ``null`` body."""
        resp = self.request(method, path, query, body)
        assert resp.status_code == 200, resp.text
        assert resp.content == b'null'
        return resp

    def snapshot(self):
        """Every row of every table, to prove a refused request wrote nothing."""
        from pacifica.common.database import open_database  # pylint: disable=import-outside-toplevel
        from pacifica.metadata.orm import ORM_OBJECTS  # pylint: disable=import-outside-toplevel
        db = open_database(self.db_url, max_connections=2)
        db.connect()
        try:
            state = {}
            for model in ORM_OBJECTS:
                table = model._meta.table_name  # pylint: disable=protected-access
                rows = db.execute_sql('SELECT * FROM "{}"'.format(table)).fetchall()
                state[table] = sorted(tuple(str(v) for v in row) for row in rows)
            return state
        finally:
            db.close()
            db.close_all()


def start_metadata(tmp, db_url, **env_extra):
    """dbsync a database and start a metadata server on it; returns (server, env)."""
    env = service_env(tmp, 'metadata', PEEWEE_URL=db_url, **env_extra)
    env.setdefault('NOTIFICATIONS_DISABLED', 'true')
    done = admin(env, 'dbsync', cwd=str(tmp))
    assert done.returncode == 0, done.stderr
    return start_service('pacifica.metadata', tmp, env), env


@pytest.fixture(scope='session')
def md_start():
    """The :func:`start_metadata` helper (test modules cannot import conftest)."""
    return start_metadata


@pytest.fixture(scope='session')
def md_admin():
    """The :func:`admin` helper."""
    return admin


@pytest.fixture(scope='module')
def md_api(md_db_url, tmp_path_factory):
    """A running server on a freshly synced database, and a client for it."""
    tmp = tmp_path_factory.mktemp('metadata')
    server, _ = start_metadata(tmp, md_db_url)
    yield Api(server, md_db_url)
    server.stop()


@pytest.fixture(scope='module')
def receiver():
    """An :class:`EventReceiver` for the module."""
    rec = EventReceiver()
    yield rec
    rec.close()


@pytest.fixture(scope='module')
def md_events_env():
    """Extra server environment for :func:`md_events_api` (a module overrides this)."""
    return {}


@pytest.fixture(scope='module')
def md_events_api(md_db_url, receiver, md_events_env, tmp_path_factory):
    """A running server on a freshly synced database that sends its events to
    ``receiver``, and a client for it."""
    tmp = tmp_path_factory.mktemp('events')
    server, _ = start_metadata(tmp, md_db_url, NOTIFICATIONS_DISABLED='false',
                               NOTIFICATIONS_URL=receiver.url, **md_events_env)
    yield Api(server, md_db_url)
    server.stop()

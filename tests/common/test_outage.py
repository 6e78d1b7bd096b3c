"""A database that is down: 503 with Retry-After and the JSON error on every endpoint that
touches it (uniqueid, metadata, cartd, HEAD of a cart too); admin commands and start-up
fail at once, in one line, on failures that waiting cannot cure; a database URL's password
never appears in a message."""
import json
import subprocess
import sys
import time

import pytest
import requests

from metadata.mq_dataset import ingest_document
from pacifica.metadata.objects import OBJECTS
from support import (POSTGRES_URL, create_postgres_database, drop_postgres_database,
                     free_port, run_admin, service_env, start_service, start_uwsgi)

SECRET = 'hunter2-secret'
JSON = {'Content-Type': 'application/json'}

METADATA_READS = [
    '/userinfo/by_id/10', '/userinfo/search/d+brown', '/userinfo/by_user_id/10',
    '/projectinfo/by_project_id/1234a', '/projectinfo/search/abc', '/projectinfo/by_user_id/10',
    '/instrumentinfo/by_instrument_id/54', '/instrumentinfo/by_user_id/10',
    '/instrumentinfo/search/abc', '/instrumentinfo/categories',
    '/transactioninfo/by_id/1234', '/transactioninfo/files/1234', '/transactioninfo/last',
    '/transactioninfo/search?user=10', '/tkvinfo/values_for_key/Tag',
    '/tkvinfo/kv_for_transaction/1234', '/fileinfo/files_for_keyvalue/Tag/foo',
    '/migrate/users',
] + ['/{}'.format(obj.name) for obj in OBJECTS]
METADATA_WRITES = [
    ('PUT', '/users', [{'_id': 5, 'network_id': 'x'}]),
    ('POST', '/users?_id=10', {'first_name': 'X'}),
    ('DELETE', '/users?_id=10', None),
    ('PUT', '/ingest', ingest_document()),
    ('POST', '/tkvupload/upload_entries', {'1234': {'k': 'v'}}),
]
UNIQUEID = [('GET', '/getid?range=1&mode=file', None)]   # HEAD reserves nothing: no database
CARTD = [('POST', '/c1', {'fileids': [{'id': 1, 'path': 'a.txt', 'hashtype': 'sha1',
                                        'hashsum': '0' * 40}]}),
         ('GET', '/c1', None), ('HEAD', '/c1', None), ('DELETE', '/c1', None)]
REQUESTS = {
    'uniqueid': UNIQUEID,
    'metadata': [('GET', url, None) for url in METADATA_READS] + METADATA_WRITES,
    'cartd': CARTD,
}


def down_urls(tmp_path):
    """Database URLs that cannot be reached: nothing listens on the port, and a SQLite file
    that cannot be opened (its path is a directory; chmod would not stop root)."""
    (tmp_path / 'not-a-file.sqlite3').mkdir()
    return {
        'postgresql-closed-port': 'postgresql://pacifica:{}@127.0.0.1:{}/pacifica'.format(
            SECRET, free_port()),
        'sqlite-unopenable': 'sqliteext:///' + str(tmp_path / 'not-a-file.sqlite3'),
    }


def _env(tmp_path, name, url):
    return service_env(tmp_path, name, PEEWEE_URL=url, NOTIFICATIONS_DISABLED='true',
                       VOLUME_PATH=str(tmp_path / 'carts') + '/',
                       CELERY_FILESYSTEM_DIR=str(tmp_path / 'celery'),
                       ARCHIVE_INTERFACE_URL='http://127.0.0.1:{}/'.format(free_port()))


def send(server, method, path, body):
    """One request of a REQUESTS list."""
    return requests.request(method, server.url + path, timeout=30,
                            data=None if body is None else json.dumps(body),
                            headers=JSON if body is not None else {})


def assert_unavailable(answer, method):
    assert answer.status_code == 503, (method, answer.url, answer.status_code, answer.text)
    assert int(answer.headers['Retry-After']) > 0
    if method != 'HEAD':
        body = answer.json()
        assert set(body) == {'status', 'message', 'traceback', 'version'}
        assert body['status'].startswith('503') and body['traceback'] == ''
        assert 'database' in body['message'] and SECRET not in answer.text


@pytest.mark.parametrize('name', sorted(REQUESTS))
@pytest.mark.parametrize('down', ['postgresql-closed-port', 'sqlite-unopenable'])
def test_every_endpoint_answers_503_when_the_database_is_down(tmp_path, name, down):
    """The WSGI application (which does not wait for the database at start) under uWSGI."""
    server = start_uwsgi('pacifica.{}.wsgi'.format(name), tmp_path,
                         _env(tmp_path, name, down_urls(tmp_path)[down]), processes=1)
    try:
        for method, path, body in REQUESTS[name]:
            assert_unavailable(send(server, method, path, body), method)
        assert SECRET not in server.output()
    finally:
        server.stop()


@pytest.fixture
def pg_database():
    if not POSTGRES_URL:
        pytest.skip('PACIFICA_TEST_POSTGRES is not set (no PostgreSQL server to test against)')
    url = create_postgres_database('pacifica_outage')
    yield url
    drop_postgres_database(url)


def _pg_admin(sql):
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(POSTGRES_URL)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(sql)
    conn.close()


@pytest.mark.parametrize('name', sorted(REQUESTS))
def test_a_database_that_goes_away_under_the_cli_server_is_503_then_recovers(
        tmp_path, pg_database, name):
    """The CLI server (which waited for the database at start): its pooled connections are
    killed and new ones refused; every request is a 503 until the database is back."""
    package = 'pacifica.' + name
    env = _env(tmp_path, name, pg_database)
    assert run_admin(package, ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    server = start_service(package, tmp_path, env)
    dbname = pg_database.rsplit('/', 1)[1]
    try:
        assert send(server, *REQUESTS[name][0]).status_code < 500
        _pg_admin('ALTER DATABASE {} WITH ALLOW_CONNECTIONS false'.format(dbname))
        _pg_admin('SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                  "WHERE datname = '{}'".format(dbname))
        for method, path, body in REQUESTS[name]:
            assert_unavailable(send(server, method, path, body), method)
        _pg_admin('ALTER DATABASE {} WITH ALLOW_CONNECTIONS true'.format(dbname))
        assert send(server, *REQUESTS[name][0]).status_code < 500
    finally:
        _pg_admin('ALTER DATABASE {} WITH ALLOW_CONNECTIONS true'.format(dbname))
        server.stop()


def _unfixable_urls(tmp_path):
    urls = {'sqlite in a missing directory':
            'sqliteext:///' + str(tmp_path / 'no' / 'such' / 'dir' / 'db.sqlite3')}
    if POSTGRES_URL:
        base = POSTGRES_URL.rsplit('/', 1)[0]
        scheme, rest = base.split('://', 1)
        host = rest.rsplit('@', 1)[-1]
        urls['postgresql: no such database'] = base + '/no_such_database_here'
        urls['postgresql: no such role'] = '{}://nosuchrole:{}@{}/postgres'.format(
            scheme, SECRET, host)
    return urls


@pytest.mark.parametrize('name', sorted(REQUESTS))
def test_unfixable_database_errors_fail_at_once_in_one_line(tmp_path, name):
    """connect_attempts=10 x connect_wait=20 would be 200 s of retrying."""
    package = 'pacifica.' + name
    for what, url in _unfixable_urls(tmp_path).items():
        env = _env(tmp_path, name, url)
        env.update(DATABASE_CONNECT_ATTEMPTS='10', DATABASE_CONNECT_WAIT='20')
        for argv in (['dbsync'], ['dbchk']):
            start = time.monotonic()
            done = run_admin(package, argv, env, cwd=str(tmp_path))
            assert time.monotonic() - start < 15, what
            assert done.returncode == 1, (what, done.stdout, done.stderr)
            lines = done.stderr.strip().splitlines()
            assert len(lines) == 1 and 'not retried' in lines[0], (what, done.stderr)
            assert SECRET not in done.stderr
        start = time.monotonic()
        served = run_server_once(package, env, tmp_path)
        assert time.monotonic() - start < 15, what
        assert served.returncode == 1 and 'not retried' in served.stderr, served.stderr
        assert 'Traceback' not in served.stderr and SECRET not in served.stderr


def run_server_once(package, env, tmp_path):
    """Run ``pacifica-<service>`` expecting it to stop at start-up."""
    return subprocess.run([sys.executable, '-m', package, '-a', '127.0.0.1', '-p',
                           str(free_port())], env=env, cwd=str(tmp_path), capture_output=True,
                          text=True, timeout=60, check=False)


def test_connection_refused_is_still_retried(tmp_path):
    env = _env(tmp_path, 'uniqueid', down_urls(tmp_path)['postgresql-closed-port'])
    env.update(DATABASE_CONNECT_ATTEMPTS='3', DATABASE_CONNECT_WAIT='0.5')
    start = time.monotonic()
    done = run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path))
    assert time.monotonic() - start >= 1.0     # two waits of 0.5 s
    assert done.returncode == 1
    assert 'Failed database connect retry.' in done.stderr.strip().splitlines()[-1]
    assert SECRET not in done.stderr and 'pacifica:***@' not in done.stderr

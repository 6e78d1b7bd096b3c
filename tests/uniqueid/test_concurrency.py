"""No duplicate ids and no errors under concurrency: threads against one server, uWSGI worker
processes, and two service instances sharing one database; on SQLite and PostgreSQL."""
import subprocess
import time

from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from support import (POSTGRES_URL, create_postgres_database, drop_postgres_database,
                     run_admin, service_env, start_service, start_uwsgi)

CLIENTS = 32
REQUESTS_PER_CLIENT = 15


def hammer(urls, mode, clients=CLIENTS, per_client=REQUESTS_PER_CLIENT, keepalive=True):
    """``clients`` threads, each with its own session, spread over ``urls``; returns
    (ranges, errors). Without ``keepalive`` every request asks for its own connection."""
    def client(number):
        session = requests.Session()
        base = urls[number % len(urls)]
        got, errors = [], []
        for request in range(per_client):
            count = 1 + (number + request) % 5
            if not keepalive:
                session.close()
            try:
                resp = session.get(base + '/getid', params={'range': count, 'mode': mode},
                                   timeout=60)
            except requests.RequestException as exc:
                errors.append(repr(exc))
                continue
            if resp.status_code != 200:
                errors.append('{} {}'.format(resp.status_code, resp.text[:200]))
                continue
            body = resp.json()
            assert body['endIndex'] - body['startIndex'] + 1 == count
            got.append((body['startIndex'], body['endIndex']))
        return got, errors

    with ThreadPoolExecutor(clients) as pool:
        results = list(pool.map(client, range(clients)))
    ranges = [r for got, _ in results for r in got]
    errors = [e for _, errs in results for e in errs]
    return ranges, errors


def assert_disjoint_and_dense(ranges, expected_requests):
    """Every request got a range, no id was handed out twice, and nothing was skipped."""
    assert len(ranges) == expected_requests
    ids = [i for start, end in ranges for i in range(start, end + 1)]
    assert len(ids) == len(set(ids)), 'duplicate ids issued'
    assert sorted(ids) == list(range(len(ids))), 'ids were skipped'


@pytest.fixture
def synced(db_url, tmp_path):
    """An environment for a synced database."""
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=db_url)
    done = run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    return env


def test_threads_against_one_server(synced, tmp_path):
    server = start_service('pacifica.uniqueid', tmp_path, synced)
    try:
        ranges, errors = hammer([server.url], 'threads')
    finally:
        server.stop()
    assert errors == []
    assert_disjoint_and_dense(ranges, CLIENTS * REQUESTS_PER_CLIENT)


def test_two_instances_share_one_database(synced, tmp_path):
    first = start_service('pacifica.uniqueid', tmp_path, synced)
    second = start_service('pacifica.uniqueid', tmp_path, synced)
    try:
        ranges, errors = hammer([first.url, second.url], 'instances')
    finally:
        first.stop()
        second.stop()
    assert errors == []
    assert_disjoint_and_dense(ranges, CLIENTS * REQUESTS_PER_CLIENT)


@pytest.mark.parametrize('socket_option', ['--http-socket', '--http11-socket'])
def test_uwsgi_four_workers(synced, tmp_path, socket_option):
    """The documented ``uwsgi --http-socket ... --master -p 4`` command, and the keep-alive
    ``--http11-socket`` variant. ``--http-socket`` closes every connection after its response
    without saying so, so its clients must not reuse connections."""
    server = start_uwsgi('pacifica.uniqueid.wsgi', tmp_path, synced, processes=4,
                         socket_option=socket_option)
    try:
        workers = []
        for _ in range(100):  # the master answers before every worker has been forked
            workers = subprocess.run(['pgrep', '-P', str(server.proc.pid)],
                                     capture_output=True, text=True, check=False).stdout.split()
            if len(workers) >= 4:
                break
            time.sleep(0.1)
        assert len(workers) >= 4, server.output()
        ranges, errors = hammer([server.url], 'uwsgi',
                                keepalive=socket_option == '--http11-socket')
        assert requests.get(server.url + '/', timeout=10).json() == {
            'message': 'Pacifica UniqueID Up and Running'}
        bad = requests.get(server.url + '/getid?range=x&mode=y', timeout=10)
        assert bad.status_code == 400 and bad.json()['traceback'] == ''
    finally:
        server.stop()
    assert errors == [], server.output()[-2000:]
    assert_disjoint_and_dense(ranges, CLIENTS * REQUESTS_PER_CLIENT)


@pytest.mark.parametrize('processes,threads', [(1, 8), (2, 4)])
def test_uwsgi_threads(synced, tmp_path, processes, threads):
    """uWSGI with threads (the configuration the README recommends for UniqueID): several
    requests at once in one process, and in several processes."""
    server = start_uwsgi('pacifica.uniqueid.wsgi', tmp_path, synced, processes=processes,
                         socket_option='--http11-socket', threads=threads)
    try:
        ranges, errors = hammer([server.url], 'threaded')
        bad = requests.get(server.url + '/getid?range=0&mode=y', timeout=10)
        assert bad.status_code == 400 and 'range' in bad.json()['message']
        assert requests.get(server.url + '/nowhere', timeout=10).status_code == 404
    finally:
        server.stop()
    assert errors == [], server.output()[-2000:]
    assert_disjoint_and_dense(ranges, CLIENTS * REQUESTS_PER_CLIENT)


def test_new_mode_created_concurrently(synced, tmp_path):
    """Many first requests for the same new mode at once: exactly one row, no duplicates."""
    first = start_service('pacifica.uniqueid', tmp_path, synced)
    second = start_service('pacifica.uniqueid', tmp_path, synced)
    try:
        for attempt in range(3):
            ranges, errors = hammer([first.url, second.url], 'fresh{}'.format(attempt),
                                    clients=16, per_client=1)
            assert errors == []
            assert_disjoint_and_dense(ranges, 16)
    finally:
        first.stop()
        second.stop()


@pytest.mark.skipif(not POSTGRES_URL, reason='PACIFICA_TEST_POSTGRES is not set')
def test_survives_the_database_dropping_its_connections(tmp_path):
    """PostgreSQL closes every session (a restart, a failover): the pooled connections are
    dead, and the next requests still succeed on fresh ones without duplicates."""
    db_url = create_postgres_database()
    try:
        _drop_connections_and_go_on(db_url, tmp_path)
    finally:
        drop_postgres_database(db_url)


def _drop_connections_and_go_on(db_url, tmp_path):
    import psycopg2  # pylint: disable=import-outside-toplevel
    from urllib.parse import urlsplit  # pylint: disable=import-outside-toplevel
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=db_url)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    server = start_service('pacifica.uniqueid', tmp_path, env)
    try:
        first, _ = hammer([server.url], 'drop', clients=8, per_client=3)
        conn = psycopg2.connect(db_url)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                        'WHERE datname = %s AND pid <> pg_backend_pid()',
                        (urlsplit(db_url).path.lstrip('/'),))
            assert cur.rowcount >= 1
        conn.close()
        second, errors = hammer([server.url], 'drop', clients=8, per_client=3)
    finally:
        server.stop()
    assert errors == []
    assert_disjoint_and_dense(first + second, 48)

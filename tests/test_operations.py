"""``GET /api/ready`` and ``GET /api/metrics`` on all five services, through real HTTP
against a real suite (and uWSGI with two processes for the multiprocess metrics)."""
import hashlib
import os
import signal
import sqlite3
import time
from urllib.parse import quote

import pytest
import requests
from hypothesis import HealthCheck, given, settings, strategies as st
from prometheus_client.parser import text_string_to_metric_families

from support import (BROKER_URL, POSTGRES_URL, EventReceiver, create_postgres_database,
                     drop_postgres_database, free_port, free_port_offset, run_admin, service_env,
                     start_service, start_uwsgi)
from test_suite import pid_of, start_suite, stop_suite

PORTS = {'archiveinterface': 8080, 'uniqueid': 8051, 'metadata': 8121, 'cartd': 8081,
         'proxy': 8180}
CHECKS = {'archiveinterface': ['archive'], 'uniqueid': ['database'], 'metadata': ['database'],
          'cartd': ['database', 'broker', 'archive', 'volume'], 'proxy': ['metadata', 'archive']}
# /api/ready answers within this even when a peer hangs (issue 12, item 3).
READY_WITHIN = 2.0
OPERATIONS = ('/api/ready', '/api/metrics')


@pytest.fixture(scope='module', params=['embedded', 'postgresql+rabbitmq'])
def suite(request, tmp_path_factory):
    """One suite for the module: {service: base URL, 'home': state dir, 'database': URL}.

    On SQLite and the filesystem broker, and on PostgreSQL and RabbitMQ when the environment
    names them (a fresh database and a queue of its own)."""
    home = tmp_path_factory.mktemp('ops') / 'state'
    offset = free_port_offset()
    args, database = [], None
    if request.param != 'embedded':
        if not (POSTGRES_URL and BROKER_URL):
            pytest.skip('PACIFICA_TEST_POSTGRES and PACIFICA_TEST_BROKER are not both set')
        database = create_postgres_database()
        args = ['--database', database, '--broker', BROKER_URL]
        os.environ['CELERY_TASK_QUEUE'] = 'ops_' + os.path.basename(database)
    try:
        proc, _banner = start_suite(home, offset, *args)
        urls = {name: 'http://127.0.0.1:{}'.format(port + offset) for name, port in PORTS.items()}
        urls.update(home=home, database=database)
        yield urls
        stop_suite(proc, home, offset)
    finally:
        os.environ.pop('CELERY_TASK_QUEUE', None)
        if database:
            drop_postgres_database(database)


def execute_sql(suite, service, sql):
    """Run one statement on a service's database in the suite."""
    if suite['database'] is None:
        with sqlite3.connect(str(suite['home'] / '{}.sqlite3'.format(service))) as conn:
            conn.execute(sql)
        return
    import psycopg2  # pylint: disable=import-outside-toplevel
    with psycopg2.connect(suite['database']) as conn, conn.cursor() as cur:
        cur.execute(sql)


def ready(url, timeout=5):
    """GET /api/ready; returns (status, body, seconds)."""
    started = time.monotonic()
    resp = requests.get(url + '/api/ready', timeout=timeout)
    return resp.status_code, resp.json(), time.monotonic() - started


def wait_ready(url, timeout=15):
    """Wait until a service reports ready again."""
    deadline = time.monotonic() + timeout
    while ready(url)[0] != 200:
        assert time.monotonic() < deadline, ready(url)[1]
        time.sleep(0.1)


def samples(url):
    """The scrape of ``url``/api/metrics as {(name, ((label, value), ...)): value}."""
    resp = requests.get(url + '/api/metrics', timeout=10)
    assert resp.status_code == 200, resp.text
    assert resp.headers['Content-Type'].replace(' ', '').startswith('text/plain;version=0.0.4')
    found = {}
    for family in text_string_to_metric_families(resp.text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def value(scrape, name, **labels):
    """One sample's value (0 when absent)."""
    return scrape.get((name, tuple(sorted(labels.items()))), 0.0)


def settled(url, name, expected, **labels):
    """A scrape of ``url`` once the sample reaches ``expected``, or the last one after 5 s:
    a request is counted a moment after its client has the answer (the server counts at
    the end of the request, after the response left), so a scrape right after it can be
    one short. The caller still compares exactly."""
    deadline = time.monotonic() + 5
    scrape = samples(url)
    while value(scrape, name, **labels) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
        scrape = samples(url)
    return scrape


# -- readiness ---------------------------------------------------------------------------------
@pytest.mark.parametrize('service', sorted(PORTS))
def test_every_service_is_ready_and_says_what_it_checked(suite, service):
    status, body, _seconds = ready(suite[service])
    assert status == 200, body
    assert body['ready'] is True and body['failing'] == []
    assert [check['name'] for check in body['checks']] == CHECKS[service]
    assert all(check['ok'] for check in body['checks'])
    resp = requests.get(suite[service] + '/api/ready', timeout=5)
    assert resp.headers['Cache-Control'] == 'no-store'
    assert resp.headers['Content-Type'] == 'application/json'
    # GET / stays the upstream status message.
    root = requests.get(suite[service] + '/', timeout=5)
    assert root.status_code == 200 and root.json()['message'].startswith('Pacifica ')


def test_a_hanging_archive_is_reported_in_time(suite):
    archive = pid_of(suite['home'], 'pacifica.archiveinterface')
    os.kill(archive, signal.SIGSTOP)   # it accepts connections (the kernel does) and never answers
    try:
        for service in ('cartd', 'proxy', 'cartd'):   # again: the hung check is not restarted
            status, body, seconds = ready(suite[service])
            assert seconds < READY_WITHIN, '{} took {:.2f} s'.format(service, seconds)
            assert status == 503, body
            assert body['ready'] is False and body['failing'] == ['archive']
            failing = [c for c in body['checks'] if not c['ok']]
            assert failing[0]['message'], 'the reason is given'
    finally:
        os.kill(archive, signal.SIGCONT)
    wait_ready(suite['cartd'])
    wait_ready(suite['proxy'])


def test_a_database_schema_the_code_cannot_use_is_not_ready(suite):
    execute_sql(suite, 'uniqueid', "UPDATE uniqueindexsystem SET value = 99 WHERE part = 'major'")
    try:
        status, body, _seconds = ready(suite['uniqueid'])
        assert status == 503 and body['failing'] == ['database'], body
        assert body['checks'][0]['message'] == (
            'schema 99.0, code 1.0: run pacifica-uniqueid-cmd dbsync')
    finally:
        execute_sql(suite, 'uniqueid', "UPDATE uniqueindexsystem SET value = 1 WHERE part = 'major'")
    wait_ready(suite['uniqueid'])


@pytest.mark.skipif(not POSTGRES_URL, reason='PACIFICA_TEST_POSTGRES is not set')
def test_a_database_that_went_away_is_not_ready_and_counted(tmp_path):
    url = create_postgres_database()
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=url)
    try:
        assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
        server = start_service('pacifica.uniqueid', tmp_path, env)
        try:
            assert ready(server.url)[0] == 200
            drop_postgres_database(url)
            status, body, seconds = ready(server.url)
            assert status == 503 and body['failing'] == ['database'], body
            assert seconds < READY_WITHIN
            assert 'details in the service log' in body['checks'][0]['message']
            assert requests.get(server.url + '/getid?range=1&mode=x', timeout=10).status_code == 503
            scrape = samples(server.url)
            assert sum(v for (name, _labels), v in scrape.items()
                       if name == 'pacifica_database_errors_total') >= 1
        finally:
            server.stop()
    finally:
        drop_postgres_database(url)


def test_cartd_without_its_broker_and_archive_is_not_ready(tmp_path):
    closed = free_port()   # nothing listens there: a broker and an archive that are down
    env = service_env(tmp_path, 'cartd', PEEWEE_URL='sqliteext:///{}/c.sqlite3'.format(tmp_path),
                      VOLUME_PATH=tmp_path / 'volume',
                      BROKER_URL='pyamqp://guest:guest@127.0.0.1:{}//'.format(closed),
                      ARCHIVE_INTERFACE_URL='http://127.0.0.1:{}/'.format(closed))
    assert run_admin('pacifica.cartd', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    server = start_service('pacifica.cartd', tmp_path, env)
    try:
        status, body, seconds = ready(server.url)
        assert status == 503 and body['failing'] == ['broker', 'archive'], body
        assert seconds < READY_WITHIN
        archive = next(c for c in body['checks'] if c['name'] == 'archive')
        assert archive['message'] == 'http://127.0.0.1:{} does not answer: Connection ' \
                                     'refused'.format(closed)
        assert 'guest' not in resp_text(body), 'no credentials in the answer'
    finally:
        server.stop()


def resp_text(body):
    """Every message of a readiness answer, as one string."""
    return ' '.join(check['message'] for check in body['checks'])


# -- the reserved namespace ----------------------------------------------------------------------
def test_operational_paths_win_only_for_exactly_those_paths(suite):
    archive, cartd = suite['archiveinterface'], suite['cartd']
    data = b'a file whose id is api'
    assert requests.put(archive + '/api', data=data, timeout=5).status_code == 201
    assert requests.get(archive + '/api', timeout=5).content == data
    # upstream answers GET /<id>/<anything> with the file: still so, except for our two paths
    assert requests.get(archive + '/api/ready/', timeout=5).content == data
    assert requests.get(archive + '/api/other', timeout=5).content == data
    assert requests.get(archive + '/api/ready', timeout=5).json()['ready'] is True
    assert requests.head(archive + '/api', timeout=5).status_code == 204

    body = {'fileids': [{'id': 'api', 'path': 'api.txt', 'hashtype': 'sha1',
                         'hashsum': hashlib.sha1(data).hexdigest()}]}
    assert requests.post(cartd + '/api', json=body, timeout=5).status_code == 201
    assert 'X-Pacifica-Status' in requests.head(cartd + '/api', timeout=5).headers
    assert requests.get(cartd + '/api/ready', timeout=5).json()['ready'] is True

    for service in ('metadata', 'uniqueid', 'proxy'):
        resp = requests.get(suite[service] + '/api', timeout=5)
        assert resp.status_code == 404 and resp.json()['status'].startswith('404')


@pytest.mark.parametrize('method', ['POST', 'PUT', 'DELETE', 'PATCH'])
def test_other_methods_are_refused_and_change_nothing(suite, method):
    archive = suite['archiveinterface']
    requests.put(archive + '/api', data=b'kept', timeout=5)
    for service in PORTS:
        for path in OPERATIONS:
            resp = requests.request(method, suite[service] + path, data=b'{"x": 1}', timeout=5,
                                    headers={'Content-Type': 'application/json'})
            assert resp.status_code == 405, (service, path, resp.text)
            assert resp.headers['Allow'] == 'GET, HEAD'
            assert resp.json()['message'] == 'only GET and HEAD are allowed here'
    assert requests.get(archive + '/api', timeout=5).content == b'kept'
    assert not (suite['home'] / 'archive' / 'ready').exists()


# Not empty: the server collapses '//' before routing, so /api//ready is /api/ready.
SEGMENT = st.text(st.characters(codec='utf-8', exclude_characters='/?#\x00'), min_size=1,
                  max_size=12)


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(service=st.sampled_from(sorted(PORTS)), segment=SEGMENT,
       trailer=st.sampled_from(['', '/', '/x', '/ready', '?q=1']))
def test_any_other_api_path_is_the_service_own_and_never_a_500(suite, service, segment, trailer):
    path = '/api/' + quote(segment, safe='') + trailer
    resp = requests.get(suite[service] + path, timeout=10)
    assert resp.status_code < 500, (path, resp.status_code, resp.text[:200])
    if path.split('?')[0] not in OPERATIONS + ('/api/openapi.json',):
        assert not _is_readiness(resp) and 'pacifica_http_requests' not in resp.text, path


def _is_readiness(resp):
    try:
        body = resp.json()
    except ValueError:
        return False
    return isinstance(body, dict) and {'ready', 'failing', 'checks'} <= set(body)


# -- metrics -------------------------------------------------------------------------------------
@pytest.mark.parametrize('service', sorted(PORTS))
def test_every_service_counts_its_requests_by_route(suite, service):
    before = value(samples(suite[service]), 'pacifica_http_requests_total', route='/',
                   method='GET', status='200')
    for _ in range(3):
        requests.get(suite[service] + '/', timeout=5)
    scrape = settled(suite[service], 'pacifica_http_requests_total', before + 3, route='/',
                     method='GET', status='200')
    assert value(scrape, 'pacifica_http_requests_total', route='/', method='GET',
                 status='200') == before + 3
    assert value(scrape, 'pacifica_http_request_duration_seconds_count', route='/',
                 method='GET') >= 3


def test_uniqueid_counts_ids_and_keeps_labels_bounded(suite):
    url = suite['uniqueid']
    before = value(samples(url), 'pacifica_uniqueid_ids_allocated_total', mode='opsmode')
    assert requests.get(url + '/getid?range=7&mode=opsmode', timeout=5).status_code == 200
    for number in range(80):   # modes are chosen by clients: only so many become labels
        requests.get(url + '/getid?range=1&mode=m{}'.format(number), timeout=5)
    for number in range(20):   # so are ids in the path: folded into one route
        requests.get(url + '/getid/{}'.format(number), timeout=5)
    scrape = settled(url, 'pacifica_uniqueid_ids_allocated_total', before + 7, mode='opsmode')
    assert value(scrape, 'pacifica_uniqueid_ids_allocated_total', mode='opsmode') == before + 7
    modes = {dict(labels)['mode'] for (name, labels) in scrape
             if name == 'pacifica_uniqueid_ids_allocated_total'}
    assert 'other' in modes and len(modes) <= 65
    routes = {dict(labels)['route'] for (name, labels) in scrape
              if name == 'pacifica_http_requests_total'}
    assert '/getid/*' in routes and not any(route.startswith('/getid/1') for route in routes)


def test_metadata_counts_objects_written(suite):
    url = suite['metadata']
    before = value(samples(url), 'pacifica_metadata_objects_written_total', object='keys',
                   action='insert')
    resp = requests.put(url + '/keys', json=[{'key': 'ops-a'}, {'key': 'ops-b'}], timeout=5)
    assert resp.status_code == 200, resp.text
    after = value(settled(url, 'pacifica_metadata_objects_written_total', before + 2,
                          object='keys', action='insert'),
                  'pacifica_metadata_objects_written_total', object='keys', action='insert')
    assert after == before + 2


def test_metadata_counts_events_sent_and_failed(tmp_path):
    receiver = EventReceiver()
    env = service_env(tmp_path, 'metadata', PEEWEE_URL='sqliteext:///{}/md.sqlite3'.format(
        tmp_path), NOTIFICATIONS_URL=receiver.url, NOTIFICATIONS_TIMEOUT=2)
    assert run_admin('pacifica.metadata', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    server = start_service('pacifica.metadata', tmp_path, env)
    try:
        assert requests.put(server.url + '/keys', json={'key': 'sent'}, timeout=5).ok
        receiver.wait(1)
        receiver.close()
        assert requests.put(server.url + '/keys', json={'key': 'lost'}, timeout=5).ok
        deadline = time.monotonic() + 10
        while True:
            scrape = samples(server.url)
            if value(scrape, 'pacifica_metadata_events_total', result='failed') >= 1:
                break
            assert time.monotonic() < deadline, 'the failed event was not counted'
            time.sleep(0.2)
        assert value(scrape, 'pacifica_metadata_events_total', result='sent') == 1
    finally:
        server.stop()


def test_cartd_reports_carts_by_state_and_the_workers_staging(suite):
    archive, cartd = suite['archiveinterface'], suite['cartd']
    data = os.urandom(300000)
    assert requests.put(archive + '/7301', data=data, timeout=5).status_code == 201
    before = samples(cartd)
    body = {'fileids': [{'id': '7301', 'path': 'x.bin', 'hashtype': 'sha1',
                         'hashsum': hashlib.sha1(data).hexdigest()}]}
    assert requests.post(cartd + '/opscart', json=body, timeout=5).status_code == 201
    deadline = time.monotonic() + 30
    while requests.head(cartd + '/opscart', timeout=5).headers['X-Pacifica-Status'] != 'ready':
        assert time.monotonic() < deadline, 'the cart did not become ready'
        time.sleep(0.1)
    scrape = samples(cartd)
    assert value(scrape, 'pacifica_cartd_carts', state='ready') == value(
        before, 'pacifica_cartd_carts', state='ready') + 1
    # Counted in the Celery worker, seen through the shared multiprocess directory.
    assert value(scrape, 'pacifica_cartd_staged_bytes_total') - value(
        before, 'pacifica_cartd_staged_bytes_total') == len(data)
    assert value(scrape, 'pacifica_cartd_staging_seconds_count', result='staged') == value(
        before, 'pacifica_cartd_staging_seconds_count', result='staged') + 1


def test_proxy_counts_bytes_and_hash_failures(suite):
    archive, metadata, proxy = suite['archiveinterface'], suite['metadata'], suite['proxy']
    good, bad = b'proxy metric bytes\n' * 100, b'rotten soon' * 10
    for file_id, data in ((7401, good), (7402, bad)):
        assert requests.put('{}/{}'.format(archive, file_id), data=data, timeout=5).ok
    assert requests.put(metadata + '/transactions', json=[{'_id': 7400}], timeout=5).ok
    records = [{'_id': file_id, 'name': 'f{}'.format(file_id), 'hashtype': 'sha1',
                'hashsum': hashlib.sha1(data).hexdigest(), 'size': len(data),
                'transaction': 7400} for file_id, data in ((7401, good), (7402, bad))]
    assert requests.put(metadata + '/files', json=records, timeout=5).ok
    (suite['home'] / 'archive' / '7402').write_bytes(b'R' * len(bad))   # same size, new bytes
    before = samples(proxy)
    resp = requests.get(proxy + '/files/sha1/' + records[0]['hashsum'], timeout=10)
    assert resp.content == good
    bad_resp = requests.get(proxy + '/files/sha1/' + records[1]['hashsum'], timeout=10)
    assert bad_resp.status_code == 502
    scrape = samples(proxy)
    assert value(scrape, 'pacifica_proxy_sent_bytes_total') - value(
        before, 'pacifica_proxy_sent_bytes_total') == len(good)
    assert value(scrape, 'pacifica_proxy_hash_failures_total') - value(
        before, 'pacifica_proxy_hash_failures_total') == 1


def test_metrics_add_up_over_uwsgi_processes(tmp_path):
    metrics_dir = tmp_path / 'metrics'
    metrics_dir.mkdir()
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL='sqliteext:///{}/u.sqlite3'.format(
        tmp_path), PROMETHEUS_MULTIPROC_DIR=metrics_dir)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    server = start_uwsgi('pacifica.uniqueid.wsgi', tmp_path, env, processes=2)
    try:
        for _ in range(30):   # a new connection each: uWSGI hands them to either process
            with requests.Session() as session:
                assert session.get(server.url + '/getid?range=2&mode=u', timeout=5).ok
        writers = {name.rsplit('_', 1)[-1] for name in os.listdir(str(metrics_dir))}
        assert len(writers) >= 2, 'both uWSGI processes served and wrote their values'
        for _ in range(6):    # whichever process answers the scrape, it sees them all
            with requests.Session() as session:
                resp = session.get(server.url + '/api/metrics', timeout=5)
            scrape = {(f.name, s.name, tuple(sorted(s.labels.items()))): s.value
                      for f in text_string_to_metric_families(resp.text) for s in f.samples}
            assert scrape[('pacifica_uniqueid_ids_allocated', 'pacifica_uniqueid_ids_allocated_total',
                           (('mode', 'u'),))] == 60
            assert scrape[('pacifica_http_requests', 'pacifica_http_requests_total',
                           (('method', 'GET'), ('route', '/getid'), ('status', '200')))] == 30
        status, body, _seconds = ready(server.url)
        assert status == 200 and body['failing'] == []
    finally:
        server.stop()

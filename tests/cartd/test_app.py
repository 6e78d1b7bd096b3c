"""One cartd application built from the loaded config: ``-c FILE`` decides the broker, the
database and the volume of the server, and the same file (``CARTD_CONFIG``) the worker's."""
import json
import os
import subprocess
import sys
import time
import uuid

import pytest
import requests

from pacifica.cartd import tasks
from pacifica.cartd.config import KEYS
from pacifica.common import config as cfg
from support import BROKER_URL, ROOT, run_admin, service_env, start_service


def _cart_conftest():
    """tests/cartd/conftest.py as pytest loaded it (a plain ``import conftest`` may find
    tests/conftest.py instead)."""
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'conftest.py')
    return next(module for module in list(sys.modules.values())
                if getattr(module, '__file__', None) == here)


Worker, sha256 = _cart_conftest().Worker, _cart_conftest().sha256

INI = """[cartd]
volume_path = {base}/ini-volume
claim_timeout = 10
[database]
peewee_url = sqliteext:///{base}/ini-cart.sqlite3
[archiveinterface]
url = {archive}
[celery]
broker_url = {broker}
filesystem_dir = {base}/ini-queue
task_queue = {queue}
"""


def test_importing_reads_no_configuration(tmp_path):
    """A broken CARTD_CONFIG does not stop the modules from importing; the app built from a
    config object uses that object, whatever the environment says."""
    bad = tmp_path / 'bad.ini'
    bad.write_text('[cartd]\ntransfer_size = lots\n')
    code = ('import pacifica.cartd.tasks as t, pacifica.cartd.rest, pacifica.cartd.service; '
            'print(t.app._cartd_config)')
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                          env=dict(os.environ, CARTD_CONFIG=str(bad),
                                   PYTHONPATH=ROOT), check=False, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == 'None'
    config = cfg.load(KEYS, None, environ={'BROKER_URL': 'redis://127.0.0.1:1/3'})
    app = tasks.make_app(config)
    assert app.conf.broker_url == 'redis://127.0.0.1:1/3'
    assert app.conf.task_acks_late and app.conf.worker_prefetch_multiplier == 1
    assert 'pacifica.cartd.tasks.stage_batch' in app.tasks


def test_a_bad_worker_config_stops_the_worker_with_one_line(tmp_path):
    bad = tmp_path / 'bad.ini'
    bad.write_text('[cartd]\ntransfer_size = lots\n')
    done = subprocess.run([sys.executable, '-m', 'celery', '-A', 'pacifica.cartd.tasks',
                           'worker', '--pool', 'solo'], capture_output=True, text=True,
                          env=dict(os.environ, CARTD_CONFIG=str(bad), PYTHONPATH=ROOT),
                          cwd=str(tmp_path), check=False, timeout=60)
    assert done.returncode == 1
    assert 'cartd.transfer_size' in done.stderr and 'Traceback' not in done.stderr


def _brokers():
    marks = [] if BROKER_URL else [pytest.mark.skip(reason='PACIFICA_TEST_BROKER is not set')]
    return [pytest.param('', id='filesystem'),
            pytest.param(BROKER_URL or '', id='rabbitmq', marks=marks)]


@pytest.mark.parametrize('broker', _brokers())
def test_only_dash_c_decides_broker_database_and_volume(tmp_path, broker):
    archive = start_service('pacifica.archiveinterface', tmp_path,
                            service_env(tmp_path, 'archiveinterface'),
                            ['--prefix', str(tmp_path / 'archive')])
    queue = 'cartd-ini-{}'.format(uuid.uuid4().hex[:8])
    ini = tmp_path / 'cart.ini'
    ini.write_text(INI.format(base=tmp_path, archive=archive.url + '/', broker=broker,
                              queue=queue))
    # No cartd variables at all: what is not in the file takes the defaults.
    env = service_env(tmp_path, 'cartd')
    for name in [key.env for key in KEYS if key.env] + ['PACIFICA_HOME']:
        env.pop(name, None)
    server = worker = None
    try:
        assert run_admin('pacifica.cartd', ['-c', str(ini), 'dbsync'], env,
                         cwd=str(tmp_path)).returncode == 0
        server = start_service('pacifica.cartd', tmp_path, env, ['-c', str(ini)])
        worker = Worker(dict(env, CARTD_CONFIG=str(ini)), str(tmp_path))
        worker.start()
        data = b'configured by one file'
        requests.put(archive.url + '/ini1', data=data)
        uid = 'dash-c'
        response = requests.post('{}/{}'.format(server.url, uid), data=json.dumps({
            'fileids': [{'id': 'ini1', 'path': 'a/b.txt', 'hashtype': 'sha256',
                         'hashsum': sha256(data)}]}),
            headers={'Content-Type': 'application/json'})
        assert response.status_code == 201, response.text
        for _ in range(300):
            head = requests.head('{}/{}'.format(server.url, uid))
            if head.headers['X-Pacifica-Status'] in ('ready', 'error'):
                break
            time.sleep(0.1)
        assert head.headers['X-Pacifica-Status'] == 'ready', worker.output()[-3000:]
        assert os.path.isfile(tmp_path / 'ini-cart.sqlite3')
        staged = [os.path.join(p, n) for p, _d, names in os.walk(tmp_path / 'ini-volume')
                  for n in names if n == 'b.txt']
        assert len(staged) == 1
        if not broker:
            assert os.path.isdir(tmp_path / 'ini-queue' / 'queue')
        # Nothing went to the defaults the environment would have chosen.
        assert not os.path.exists(tmp_path / '.pacifica')
        assert not os.path.exists(tmp_path / 'db.sqlite3')
        assert not os.path.exists(tmp_path / '.pacifica-cartd' / 'volume')
    finally:
        if worker:
            worker.stop()
        if server:
            server.stop()
        archive.stop()
        if broker:
            from kombu import Connection  # pylint: disable=import-outside-toplevel
            with Connection(broker) as conn:
                conn.default_channel.queue_delete(queue)

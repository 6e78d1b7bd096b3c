"""Cartd's WSGI module under a real uWSGI, and the documented example config."""
import os
import shutil
import subprocess
import sys
import time

import requests

from pacifica.cartd.config import KEYS
from pacifica.common import config as cfg
from support import ROOT, free_port, run_admin, service_env


def test_wsgi_application_under_uwsgi(tmp_path):
    port = free_port()
    env = service_env(tmp_path, 'cartd', PEEWEE_URL='sqliteext:///' + str(tmp_path / 'c.db'),
                      VOLUME_PATH=tmp_path / 'volume', PACIFICA_HOME=tmp_path / 'home')
    assert run_admin('pacifica.cartd', ['dbsync'], env).returncode == 0
    uwsgi = shutil.which('uwsgi') or os.path.join(os.path.dirname(sys.executable), 'uwsgi')
    log = open(str(tmp_path / 'uwsgi.log'), 'wb')  # pylint: disable=consider-using-with
    proc = subprocess.Popen([uwsgi, '--http-socket', '127.0.0.1:{}'.format(port), '--master',
                             '-p', '2', '--module', 'pacifica.cartd.wsgi', '--need-app', '--die-on-term'],
                            env=env, cwd=ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        url = 'http://127.0.0.1:{}'.format(port)
        deadline = time.monotonic() + 30
        while True:
            try:
                requests.get(url + '/', timeout=1)
                break
            except requests.ConnectionError:
                assert proc.poll() is None and time.monotonic() < deadline, \
                    (tmp_path / 'uwsgi.log').read_text()
                time.sleep(0.1)
        assert requests.get(url + '/').json() == {
            'message': 'Pacifica Cartd Interface Up and Running'}
        assert requests.post(url + '/w', json={'fileids': []}).status_code == 201
        assert requests.head(url + '/w').headers['X-Pacifica-Status'] == 'staging'
        # The cart's task went to the filesystem broker under PACIFICA_HOME.
        assert os.listdir(str(tmp_path / 'home' / 'celery' / 'queue'))
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_example_ini_documents_every_key():
    path = os.path.join(ROOT, 'config', 'cartd.ini')
    text = open(path, encoding='utf-8').read()
    config = cfg.load(KEYS, path, environ={})
    for key in KEYS:
        assert '\n{} ='.format(key.name) in text, key.dotted
        if key.env:
            assert key.env in text, key.env
        config.get(key.section, key.name)
    assert cfg.is_cherrypy_config(os.path.join(ROOT, 'config', 'cartd-server.conf'))

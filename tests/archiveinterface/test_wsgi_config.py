"""The WSGI module under a real uWSGI, and the documented example config."""
import os
import subprocess
import time

import requests

from pacifica.archiveinterface.config import KEYS
from pacifica.common import config as cfg
from support import ROOT, free_port, service_env


def _uwsgi():
    import shutil  # pylint: disable=import-outside-toplevel
    return shutil.which('uwsgi') or os.path.join(os.path.dirname(os.sys.executable), 'uwsgi')


def test_wsgi_application_under_uwsgi(tmp_path):
    port = free_port()
    env = service_env(tmp_path, 'archiveinterface', PAI_PREFIX=tmp_path / 'root')
    log = open(str(tmp_path / 'uwsgi.log'), 'wb')  # pylint: disable=consider-using-with
    proc = subprocess.Popen([_uwsgi(), '--http-socket', '127.0.0.1:{}'.format(port),
                             '--master', '-p', '2', '--module',
                             'pacifica.archiveinterface.wsgi', '--need-app', '--die-on-term'],
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
        data = os.urandom(2 * 1024 * 1024 + 3)
        assert requests.put(url + '/w.bin', data=data).json()['total_bytes'] == len(data)
        assert (tmp_path / 'root' / 'w.bin').read_bytes() == data
        assert requests.get(url + '/w.bin').content == data
        assert requests.head(url + '/w.bin').headers['X-Pacifica-Messsage'] == 'File was found'
        assert requests.get(url + '/..%2Fx').status_code == 400
    finally:
        proc.terminate()
        proc.wait(30)
        log.close()


def test_example_ini_documents_every_key():
    path = os.path.join(ROOT, 'config', 'archiveinterface.ini')
    text = open(path, encoding='utf-8').read()
    config = cfg.load(KEYS, path, environ={})
    for key in KEYS:
        assert '\n{} ='.format(key.name) in text, key.dotted
        if key.env:
            assert key.env in text, key.env
        config.get(key.section, key.name)
    assert cfg.is_cherrypy_config(os.path.join(ROOT, 'config', 'archiveinterface-server.conf'))

"""Cartd's WSGI module under a real uWSGI."""
import os

import requests

from support import run_admin, service_env, start_uwsgi


def test_wsgi_application_under_uwsgi(tmp_path):
    env = service_env(tmp_path, 'cartd', PEEWEE_URL='sqliteext:///' + str(tmp_path / 'c.db'),
                      VOLUME_PATH=tmp_path / 'volume', PACIFICA_HOME=tmp_path / 'home')
    assert run_admin('pacifica.cartd', ['dbsync'], env).returncode == 0
    server = start_uwsgi('pacifica.cartd.wsgi', tmp_path, env)
    try:
        url = server.url
        assert requests.get(url + '/').json() == {
            'message': 'Pacifica Cartd Interface Up and Running'}
        assert requests.post(url + '/w', json={'fileids': []}).status_code == 201
        assert requests.head(url + '/w').headers['X-Pacifica-Status'] == 'staging'
        # The cart's task went to the filesystem broker under PACIFICA_HOME.
        assert os.listdir(str(tmp_path / 'home' / 'celery' / 'queue'))
    finally:
        server.stop()

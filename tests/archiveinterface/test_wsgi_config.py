"""The archive interface's WSGI module under a real uWSGI."""
import os

import requests

from support import service_env, start_uwsgi


def test_wsgi_application_under_uwsgi(tmp_path):
    env = service_env(tmp_path, 'archiveinterface', PAI_PREFIX=tmp_path / 'root')
    server = start_uwsgi('pacifica.archiveinterface.wsgi', tmp_path, env)
    try:
        url = server.url
        data = os.urandom(2 * 1024 * 1024 + 3)
        assert requests.put(url + '/w.bin', data=data).json()['total_bytes'] == len(data)
        assert (tmp_path / 'root' / 'w.bin').read_bytes() == data
        # No sendfile under uWSGI: the body is read and sent in blocks, ranges included.
        assert requests.get(url + '/w.bin').content == data
        ranged = requests.get(url + '/w.bin', headers={'Range': 'bytes=1048570-1048580'})
        assert ranged.status_code == 206 and ranged.content == data[1048570:1048581]
        assert requests.get(url + '/w.bin?byte_range=3-2097155').content == data[3:2097155]
        assert requests.head(url + '/w.bin').headers['X-Pacifica-Messsage'] == 'File was found'
        assert requests.get(url + '/..%2Fx').status_code == 400
    finally:
        server.stop()

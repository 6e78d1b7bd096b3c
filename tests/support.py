"""Test helpers: free ports, fresh databases, and real service processes."""
import os
import socket
import subprocess
import sys
import time
import uuid
from urllib.parse import urlsplit, urlunsplit

import requests

POSTGRES_URL = os.environ.get('PACIFICA_TEST_POSTGRES')
BROKER_URL = os.environ.get('PACIFICA_TEST_BROKER')
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def _pg_admin(url):
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(url)
    conn.autocommit = True
    return conn


def create_postgres_database(prefix='pacifica_test'):
    """Create a fresh PostgreSQL database on the test server; returns its URL."""
    name = '{}_{}'.format(prefix, uuid.uuid4().hex[:12])
    conn = _pg_admin(POSTGRES_URL)
    with conn.cursor() as cur:
        cur.execute('CREATE DATABASE {}'.format(name))
    conn.close()
    parts = urlsplit(POSTGRES_URL)
    return urlunsplit((parts.scheme, parts.netloc, '/' + name, parts.query, ''))


def drop_postgres_database(url):
    """Drop a database made by :func:`create_postgres_database` (closing its sessions)."""
    name = urlsplit(url).path.lstrip('/')
    conn = _pg_admin(POSTGRES_URL)
    with conn.cursor() as cur:
        cur.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity '
                    'WHERE datname = %s AND pid <> pg_backend_pid()', (name,))
        cur.execute('DROP DATABASE IF EXISTS {}'.format(name))
    conn.close()


def admin_code(package):
    """Python code that runs ``<package>.__main__.cmd`` with the rest of argv."""
    return 'import sys, {}.__main__ as m; sys.exit(m.cmd(sys.argv[1:]))'.format(package)


def run_admin(package, args, env, cwd=None, timeout=60):
    """Run ``pacifica-<service>-cmd ARGS``; returns the CompletedProcess."""
    return subprocess.run([sys.executable, '-c', admin_code(package)] + list(args),
                          env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout,
                          check=False)


def service_env(tmp_path, service, **extra):
    """An environment isolated from the user's ~/.pacifica-* files."""
    env = dict(os.environ)
    env['HOME'] = str(tmp_path)
    env['{}_CONFIG'.format(service.upper())] = str(tmp_path / 'absent.ini')
    env['{}_CPCONFIG'.format(service.upper())] = str(tmp_path / 'absent.conf')
    env['PYTHONPATH'] = ROOT + os.pathsep + env.get('PYTHONPATH', '')
    env.update({k: str(v) for k, v in extra.items()})
    return env


class Server:
    """A service started as its own process; ``url`` is its base URL (no trailing slash)."""

    def __init__(self, argv, env, port, cwd, ready_path='/', timeout=30):
        self.port = port
        self.url = 'http://127.0.0.1:{}'.format(port)
        self.log_path = os.path.join(cwd, 'server-{}.log'.format(port))
        self.log = open(self.log_path, 'wb')  # pylint: disable=consider-using-with
        self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=self.log,  # pylint: disable=consider-using-with
                                     stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError('server exited with {}: {}'.format(
                    self.proc.returncode, self.output()))
            try:
                requests.get(self.url + ready_path, timeout=1)
                break
            except requests.ConnectionError:
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError('server did not start: ' + self.output()) from None
                time.sleep(0.05)

    def output(self):
        """What the server printed so far."""
        if not self.log.closed:
            self.log.flush()
        with open(self.log_path, 'rb') as handle:
            return handle.read().decode('utf-8', 'replace')

    def stop(self):
        """Terminate the process group and wait for it."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, 15)
                self.proc.wait(10)
            except (ProcessLookupError, subprocess.TimeoutExpired):
                try:
                    os.killpg(self.proc.pid, 9)
                except ProcessLookupError:
                    pass
                self.proc.wait()
        self.log.close()


def start_service(package, tmp_path, env, args=(), port=None):
    """Start ``python -m <package> -a 127.0.0.1 -p PORT ARGS`` and wait for ``GET /``."""
    port = port or free_port()
    argv = [sys.executable, '-m', package, '-a', '127.0.0.1', '-p', str(port)] + list(args)
    return Server(argv, env, port, str(tmp_path))


def assert_json_error(response, status, *words):
    """The standard JSON error: status line, a message containing ``words``, no traceback."""
    assert response.status_code == status, response.text
    assert response.headers['Content-Type'].startswith('application/json')
    body = response.json()
    assert set(body) == {'status', 'message', 'traceback', 'version'}
    assert body['status'].startswith(str(status))
    assert body['traceback'] == ''
    for word in words:
        assert word in body['message'], body['message']
    return body

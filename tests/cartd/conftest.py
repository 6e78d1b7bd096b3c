"""Real processes for the cart tests: an archive interface, a gate in front of it, cartd,
and a Celery worker, on SQLite + the filesystem broker and, when the environment provides
them, PostgreSQL + RabbitMQ."""
import hashlib
import http.server
import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from urllib.parse import urlsplit

import pytest
import requests

from support import (BROKER_URL, POSTGRES_URL, create_postgres_database,
                     drop_postgres_database, run_admin, service_env, start_service)

REDRIVE_AFTER = 3
POLL_MAX_WAIT = 4


class Gate:
    """A real HTTP hop between cartd and the archive that tests can steer.

    ``hold``: ids whose GET waits until ``release`` is set (``arrived`` is set when one
    comes in). ``tape``: id -> number of HEADs that still report media ``tape``.
    ``failing``: id -> number of GETs that still answer 503.
    """

    def __init__(self, archive_url):
        self.archive_url = archive_url
        self.hold = set()
        self.arrived = threading.Event()
        self.release = threading.Event()
        self.tape = {}
        self.failing = {}
        self.heads = {}
        gate = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *_args):
                pass

            def _forward(self, method):
                fileid = self.path.lstrip('/')
                length = int(self.headers.get('Content-Length') or 0)
                body = self.rfile.read(length) if length else None
                if method == 'GET' and fileid in gate.hold:
                    gate.arrived.set()
                    gate.release.wait(60)
                if method == 'GET' and gate.failing.get(fileid, 0) > 0:
                    gate.failing[fileid] -= 1
                    self.send_response(503)
                    self.send_header('Content-Length', '0')
                    self.end_headers()
                    return
                upstream = requests.request(method, gate.archive_url + self.path, data=body,
                                            stream=True)
                headers = dict(upstream.headers)
                if method == 'HEAD':
                    gate.heads[fileid] = gate.heads.get(fileid, 0) + 1
                    if gate.tape.get(fileid, 0) > 0:
                        gate.tape[fileid] -= 1
                        headers['X-Pacifica-File-Storage-Media'] = 'tape'
                self.send_response(upstream.status_code)
                for name, value in headers.items():
                    if name.lower() not in ('transfer-encoding', 'connection', 'date',
                                            'server'):
                        self.send_header(name, value)
                self.end_headers()
                if method != 'HEAD':
                    try:
                        for chunk in upstream.raw.stream(1 << 20, decode_content=False):
                            self.wfile.write(chunk)
                    except OSError:
                        pass   # the worker went away (killed on purpose)
                upstream.close()

            def do_GET(self):  # pylint: disable=invalid-name
                self._forward('GET')

            def do_HEAD(self):  # pylint: disable=invalid-name
                self._forward('HEAD')

            def do_POST(self):  # pylint: disable=invalid-name
                self._forward('POST')

        self.server = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.server.daemon_threads = True
        self.url = 'http://127.0.0.1:{}/'.format(self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def reset(self):
        """Forget the steering of the previous test."""
        self.hold.clear()
        self.arrived.clear()
        self.release.clear()
        self.tape.clear()
        self.failing.clear()

    def close(self):
        """Stop serving."""
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


class Worker:
    """``celery -A pacifica.cartd.tasks worker`` as its own process group."""

    def __init__(self, env, cwd):
        self.env = env
        self.cwd = cwd
        self.proc = None
        self.log_path = os.path.join(cwd, 'worker-{}.log'.format(uuid.uuid4().hex[:6]))

    def start(self, timeout=60):
        """Start and wait until the worker says it is ready."""
        self.log_path = os.path.join(self.cwd, 'worker-{}.log'.format(uuid.uuid4().hex[:6]))
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(  # pylint: disable=consider-using-with
                [sys.executable, '-m', 'celery', '-A', 'pacifica.cartd.tasks', 'worker',
                 '--loglevel=info', '--concurrency=2', '--without-gossip', '--without-mingle',
                 '-n', 'cartd-test-{}@%h'.format(uuid.uuid4().hex[:8])],
                env=self.env, cwd=self.cwd, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True)
        deadline = time.monotonic() + timeout
        while 'ready.' not in self.output():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError('worker did not start: ' + self.output()[-3000:])
            time.sleep(0.1)

    def output(self):
        """The worker's log so far."""
        with open(self.log_path, 'rb') as log:
            return log.read().decode('utf-8', 'replace')

    def kill9(self):
        """SIGKILL the worker and its pool processes at once."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait()

    def stop(self):
        """Warm shutdown, then SIGKILL whatever is left."""
        if self.proc is None or self.proc.poll() is not None:
            return
        # The main process stops its own pool; signalling the whole group kills the pool
        # processes under it and slows the shutdown down.
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait()


def sha256(data):
    """Hex digest helper."""
    return hashlib.sha256(data).hexdigest()


class Stack:
    """Archive, gate, cartd and a worker sharing one state directory."""

    def __init__(self, base, db_url, broker_url, extra_env=None):
        self.base = base
        self.db_url = db_url
        self.volume = base / 'volume'
        self.archive_root = base / 'archive'
        archive_env = service_env(base, 'archiveinterface')
        self.archive = start_service('pacifica.archiveinterface', base, archive_env,
                                     ['--prefix', str(self.archive_root)])
        self.gate = Gate(self.archive.url)
        self.queue = 'cartd-test-{}'.format(uuid.uuid4().hex[:10])
        extra = dict(PEEWEE_URL=db_url, VOLUME_PATH=self.volume,
                     ARCHIVE_INTERFACE_URL=self.gate.url, PACIFICA_HOME=base / 'home',
                     CELERY_TASK_QUEUE=self.queue, REDRIVE_AFTER=REDRIVE_AFTER,
                     POLL_MAX_WAIT=POLL_MAX_WAIT, TRANSFER_SIZE='256 Kb', TASK_RETRIES=2,
                     DATABASE_CONNECT_ATTEMPTS=3, DATABASE_CONNECT_WAIT=1)
        if broker_url:
            extra['BROKER_URL'] = broker_url
        extra.update(extra_env or {})
        self.broker_url = broker_url
        self.env = service_env(base, 'cartd', **extra)
        done = run_admin('pacifica.cartd', ['dbsync'], self.env, cwd=str(base))
        assert done.returncode == 0, done.stderr
        self.cartd = start_service('pacifica.cartd', base, self.env)
        self.url = self.cartd.url
        self.worker = Worker(self.env, str(base))
        self.worker.start()

    def close(self):
        """Stop everything this stack started."""
        self.worker.stop()
        self.cartd.stop()
        self.gate.close()
        self.archive.stop()
        if self.broker_url:
            from kombu import Connection  # pylint: disable=import-outside-toplevel
            with Connection(self.broker_url) as conn:
                conn.default_channel.queue_delete(self.queue)

    # -- helpers for tests --------------------------------------------------------------
    def put(self, fileid, data):
        """Store bytes in the archive."""
        response = requests.put('{}/{}'.format(self.archive.url, fileid), data=data)
        assert response.status_code == 201, response.text
        return response

    def post(self, uid, items, **extra):
        """POST a cart; ``items`` are ``(archive id, path, bytes)``."""
        body = {'fileids': [{'id': fid, 'path': path, 'hashtype': 'sha256',
                             'hashsum': sha256(data)} for fid, path, data in items]}
        body.update(extra)
        return requests.post('{}/{}'.format(self.url, uid), data=json.dumps(body),
                             headers={'Content-Type': 'application/json'})

    def head(self, uid):
        """HEAD the cart."""
        return requests.head('{}/{}'.format(self.url, uid))

    def wait(self, uid, timeout=60, until=('ready', 'error')):
        """Poll HEAD like the python downloader until the cart leaves staging."""
        deadline = time.monotonic() + timeout
        while True:
            response = self.head(uid)
            if response.headers.get('X-Pacifica-Status') in until:
                return response
            if time.monotonic() > deadline:
                raise AssertionError('cart {} still {} after {} s; worker log:\n{}'.format(
                    uid, response.headers.get('X-Pacifica-Status'), timeout,
                    self.worker.output()[-4000:]))
            time.sleep(0.1)

    def another_worker(self):
        """Start one more worker on the same queue (the caller stops it)."""
        worker = Worker(self.env, str(self.base))
        worker.start()
        return worker

    def new_uid(self):
        """A fresh cart uid (the downloader uses uuid4)."""
        return str(uuid.uuid4())


def _stack_params():
    params = [pytest.param(('sqlite', None), id='sqlite-filesystem')]
    marks = []
    if not (POSTGRES_URL and BROKER_URL):
        marks = [pytest.mark.skip(reason='PACIFICA_TEST_POSTGRES and PACIFICA_TEST_BROKER '
                                         'are not both set (no PostgreSQL/RabbitMQ)')]
    broker_name = urlsplit(BROKER_URL).scheme if BROKER_URL else 'broker'
    params.append(pytest.param(('postgresql', BROKER_URL), id='postgresql-' + broker_name,
                               marks=marks))
    return params


@pytest.fixture(scope='module', params=_stack_params())
def stack(request, tmp_path_factory):
    """A running cart stack shared by the tests of one module."""
    family, broker = request.param
    base = tmp_path_factory.mktemp('stack')
    if family == 'sqlite':
        db_url = 'sqliteext:///' + str(base / 'cart.sqlite3')
    else:
        db_url = create_postgres_database('pacifica_cartd_test')
    running = Stack(base, db_url, broker)
    try:
        yield running
    finally:
        running.close()
        if family == 'postgresql':
            drop_postgres_database(db_url)


@pytest.fixture
def gate(stack):
    """The stack's gate, reset before and after the test."""
    stack.gate.reset()
    yield stack.gate
    stack.gate.release.set()
    stack.gate.reset()

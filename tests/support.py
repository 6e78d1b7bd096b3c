"""Test helpers: free ports, fresh databases, real service processes, and an event
receiver."""
import json
import os
import re
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit, urlunsplit

import requests

POSTGRES_URL = os.environ.get('PACIFICA_TEST_POSTGRES')
BROKER_URL = os.environ.get('PACIFICA_TEST_BROKER')
# A Redis broker for cartd's recovery tests (redis://host:6379/N): Redis redelivers a dead
# worker's messages differently from RabbitMQ, and real deployments use it.
REDIS_URL = os.environ.get('PACIFICA_TEST_REDIS')
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
            except (requests.ConnectionError, requests.Timeout):   # uWSGI accepts early
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


def raw_http(port, request, half_close=False, timeout=10, one_response=False):
    """Send ``request`` (bytes) on a new connection to 127.0.0.1:``port`` and return every
    byte the server sends until it closes (``half_close``: shut our side after sending).

    ``one_response``: stop as soon as one whole response with a Content-Length is in (uWSGI's
    HTTP/1.1 socket keeps the connection open for its socket timeout, ``Connection: close``
    or not)."""
    import socket  # pylint: disable=import-outside-toplevel
    received = b''
    with socket.create_connection(('127.0.0.1', port), timeout=timeout) as sock:
        sock.sendall(request)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        while True:
            data = sock.recv(65536)
            if not data:
                return received
            received += data
            if one_response and _whole_response(received):
                return received


def _whole_response(received):
    head, found, body = received.partition(b'\r\n\r\n')
    if not found:
        return False
    length = re.search(rb'\r\ncontent-length: *(\d+)', head, re.IGNORECASE)
    return bool(length) and len(body) >= int(length.group(1))


def fds_into(path):
    """This process's descriptors open on ``path`` or anything under it (a removed
    directory still open shows as ``<path> (deleted)``). Counting every descriptor of the
    process is not enough: other tests' servers and, under xdist, the worker's own channel
    open and close theirs meanwhile."""
    found = set()
    for name in os.listdir('/proc/self/fd'):
        try:
            target = os.readlink('/proc/self/fd/' + name)
        except OSError:   # closed since the listing
            continue
        if target == str(path) or target.startswith(str(path) + os.sep):
            found.add(int(name))
    return found


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


SUITE_PORTS = (8051, 8080, 8081, 8121, 8180)


def free_port_offset(ports=SUITE_PORTS, attempts=200):
    """An offset that puts every one of ``ports`` on a free port between 10000 and 30000
    (below the kernel's ephemeral range, so servers on random free ports cannot take
    them while the suite starts)."""
    import random  # pylint: disable=import-outside-toplevel
    for _ in range(attempts):
        offset = random.randrange(10000 - min(ports), 30000 - max(ports))
        try:
            for port in ports:
                with socket.socket() as sock:
                    sock.bind(('127.0.0.1', port + offset))
        except OSError:
            continue
        return offset
    raise RuntimeError('no free block of ports for the suite')


class EventReceiver:
    """A real HTTP endpoint (``url``) that records the JSON events POSTed to it, in order.

    ``delay`` seconds pass before each event is recorded and answered (a slow receiver);
    ``hook``, when set, is called with each event before it is recorded, so it sees the
    world as it is the moment the event arrives. Call :meth:`close` when done."""

    def __init__(self):
        self.events = []
        self.delay = 0.0
        self.hook = None
        self.cond = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # pylint: disable=invalid-name
                event = json.loads(self.rfile.read(int(self.headers['Content-Length'])))
                time.sleep(receiver.delay)
                if receiver.hook:
                    receiver.hook(event)
                with receiver.cond:
                    receiver.events.append(event)
                    receiver.cond.notify_all()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *args):  # pylint: disable=arguments-differ
                pass

        self.httpd = ThreadingHTTPServer(('127.0.0.1', 0), Handler)
        self.url = 'http://127.0.0.1:{}/receive'.format(self.httpd.server_address[1])
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def wait(self, count, timeout=10):
        """The first ``count`` events, kept (fails after ``timeout`` seconds)."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) >= count, timeout)
            assert len(self.events) >= count, self.events
            return self.events[:count]

    def take(self, count, timeout=10):
        """Wait for the first ``count`` events and remove them."""
        with self.cond:
            got = self.wait(count, timeout)
            del self.events[:count]
            return got

    def discard(self, count, timeout=10):
        """Wait up to ``timeout`` seconds for ``count`` events, then forget every event so
        far (set-up writes whose events the tests do not look at)."""
        with self.cond:
            self.cond.wait_for(lambda: len(self.events) >= count, timeout)
            self.events.clear()

    def quiet(self, seconds=0.5):
        """Assert nothing arrives for ``seconds``."""
        time.sleep(seconds)
        with self.cond:
            assert self.events == []

    def close(self):
        """Stop serving and release the port."""
        self.httpd.shutdown()
        self.httpd.server_close()


def start_uwsgi(module, tmp_path, env, processes=2, socket_option='--http-socket', threads=None):
    """``uwsgi <socket_option> 127.0.0.1:PORT --master -p N [--threads T] --module <module>``
    (the uwsgi installed beside this Python by the [test] extra), waited for like any
    Server."""
    import shutil  # pylint: disable=import-outside-toplevel
    binary = os.path.join(os.path.dirname(sys.executable), 'uwsgi')
    binary = binary if os.path.exists(binary) else shutil.which('uwsgi')
    assert binary, 'uwsgi is part of the [test] extra and must be installed'
    port = free_port()
    argv = [binary, socket_option, '127.0.0.1:{}'.format(port), '--master', '-p',
            str(processes)] + (['--threads', str(threads)] if threads else []) + [
                '--module', module, '--need-app', '--die-on-term', '--disable-logging']
    return Server(argv, env, port, str(tmp_path))


# -- hostile input for the property-based tests -------------------------------------------------
def hostile_strategies():
    """Hypothesis strategies for hostile input, shared by the services' property tests:

    ``text``: any code point (lone surrogates, NUL, controls) and known troublemakers
    (traversal, encoded traversal, huge and negative numbers, inf/nan, long strings);
    ``integers``: the edges of every integer type and far beyond; ``header``: what a
    client can put in a header value (latin-1, no CR/LF, no leading space).
    Imported lazily so that only the property tests need hypothesis."""
    from hypothesis import strategies as st  # pylint: disable=import-outside-toplevel
    edges = st.sampled_from([
        '', ' ', '\x00', 'a\x00b', '\ud800', 'x\udfff', '\r\n', '\t', '\x7f', '\u202e', '..',
        '.', '../../etc/passwd', '..%2F..%2Fetc%2Fpasswd', '%2e%2e', '%00', '%', '%zz', '/',
        '//x', '\\..\\x', 'a+upload-1', "' OR 1=1 --", 'inf', '-inf', 'nan', '1e20',
        '-1e20', '0x10', '1_000', '+5', '-0', ' 7 ', '\u0663', 'x' * 256, 'y' * 5000,
        'bytes=0-0,0-0,0-0', 'bytes=-0', 'bytes=0-', 'Sun, 06 Nov 99999 08:49:37 GMT'])
    integers = st.one_of(
        st.sampled_from([0, -1, 1, 2 ** 31, 2 ** 32, 2 ** 33, 2 ** 63 - 1, 2 ** 63, -2 ** 63,
                         10 ** 20, 10 ** 30, 10 ** 300]),
        st.integers(min_value=-2 ** 80, max_value=2 ** 80))
    text = st.one_of(edges, integers.map(str),
                     st.text(st.characters(codec=None, exclude_categories=()), max_size=30))
    header = st.one_of(edges, integers.map(str), st.text(
        st.characters(max_codepoint=255, exclude_characters='\r\n'), max_size=60)).map(
            lambda value: value.encode('latin-1', 'replace').decode('latin-1')
            .replace('\r', '').replace('\n', '').lstrip())
    return {'text': text, 'integers': integers, 'header': header}


def pct(text):
    """Percent-encode ``text`` whatever it holds (a lone surrogate as its UTF-8 bytes, as a
    sloppy client would send it)."""
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel
    return quote(str(text).encode('utf-8', 'surrogatepass'), safe='')


def query_string(pairs):
    """``k=v&...`` from (name, value) pairs, each :func:`pct`-encoded; a list value repeats
    the parameter."""
    parts = []
    for name, value in pairs:
        for item in value if isinstance(value, list) else [value]:
            parts.append('{}={}'.format(pct(name), pct(item)))
    return '&'.join(parts)


def property_settings(examples):
    """Bounded hypothesis settings for tests against a live server: ``examples`` cases, no
    per-case deadline (timings are noisy), the minimal failing case printed with its
    reproduction blob, nothing written to an example database in the tree."""
    from hypothesis import HealthCheck, settings  # pylint: disable=import-outside-toplevel
    return settings(max_examples=examples, deadline=None, database=None, print_blob=True,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.function_scoped_fixture])


def check_answer(response):
    """No 5xx, and any error is the JSON error document with an empty traceback. Returns
    True when the request was refused (4xx)."""
    assert response.status_code < 500, (response.status_code, response.text[:300])
    if response.status_code < 400:
        return False
    assert response.headers['Content-Type'].startswith('application/json'), response.headers
    if response.request.method != 'HEAD':
        body = response.json()
        assert set(body) == {'status', 'message', 'traceback', 'version'}, body
        assert body['status'].startswith(str(response.status_code)), body
        assert body['traceback'] == '' and body['message'], body
    return True

"""What the benchmark scripts share: a free port, waiting for a server, a metadata server.

The scripts are run as ``python benchmarks/<name>.py``, so this directory is ``sys.path[0]``
and ``import benchlib`` finds this module without installing anything.
"""
import http.client
import os
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def free_port():
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def wait_up(url, proc, timeout=30):
    """Wait until the server at ``url`` answers ``GET /`` (any status).

    Raises SystemExit if ``proc`` exits first or ``timeout`` seconds pass; stopping the
    process is left to the caller, which knows how it was started."""
    deadline = time.monotonic() + timeout
    parts = urlsplit(url)
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit('server at {} exited with {}'.format(url, proc.returncode))
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=1)
        try:
            conn.request('GET', '/')
            conn.getresponse().read()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.05)
        finally:
            conn.close()
    raise SystemExit('server at {} did not start'.format(url))


def start_metadata(db_url, root=ROOT):
    """``dbsync`` ``db_url`` and start a metadata server on it (notifications off, on a free
    port, in a temporary HOME); returns (process, url). The caller terminates the process.
    ``root``: the source tree to run (another commit's checkout, to compare side by side)."""
    home = tempfile.mkdtemp(prefix='bench-metadata-')
    env = dict(os.environ, HOME=home, PEEWEE_URL=db_url, NOTIFICATIONS_DISABLED='true',
               METADATA_CONFIG=os.path.join(home, 'none.ini'),
               METADATA_CPCONFIG=os.path.join(home, 'none.conf'),
               PYTHONPATH=root + os.pathsep + os.environ.get('PYTHONPATH', ''))
    code = 'import sys, pacifica.metadata.__main__ as m; sys.exit(m.cmd(sys.argv[1:]))'
    subprocess.run([sys.executable, '-c', code, 'dbsync'], env=env, check=True)
    port = free_port()
    proc = subprocess.Popen([sys.executable, '-m', 'pacifica.metadata', '-a', '127.0.0.1',  # pylint: disable=consider-using-with
                             '-p', str(port)], env=env, cwd=home,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = 'http://127.0.0.1:{}'.format(port)
    try:
        wait_up(url, proc)
    except SystemExit:
        proc.kill()
        proc.wait()
        raise
    return proc, url


def report(lines, results, where):
    """Print the Markdown table ``lines``; with ``results`` (a file name), also append it
    there under the UTC time and ``where`` (a database or server URL, minus credentials)."""
    table = '\n'.join(lines)
    print(table)
    if results:
        with open(results, 'a', encoding='utf-8') as handle:
            handle.write('\n{} ({})\n\n{}\n'.format(
                time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()), where.split('@')[-1],
                table))


def fresh_postgres(server_url, prefix='bench'):
    """Create a new, empty database on the PostgreSQL server at ``server_url``; its URL."""
    import uuid  # pylint: disable=import-outside-toplevel
    from urllib.parse import urlunsplit  # pylint: disable=import-outside-toplevel
    import psycopg2  # pylint: disable=import-outside-toplevel
    name = '{}_{}'.format(prefix, uuid.uuid4().hex[:8])
    conn = psycopg2.connect(server_url)
    conn.autocommit = True
    conn.cursor().execute('CREATE DATABASE ' + name)
    conn.close()
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, '/' + name, '', ''))


def drop_postgres(url):
    """Drop a database made by :func:`fresh_postgres`, closing its sessions first."""
    from urllib.parse import urlunsplit  # pylint: disable=import-outside-toplevel
    import psycopg2  # pylint: disable=import-outside-toplevel
    parts = urlsplit(url)
    conn = psycopg2.connect(urlunsplit((parts.scheme, parts.netloc, '/postgres', '', '')))
    conn.autocommit = True
    cur = conn.cursor()
    name = parts.path.lstrip('/')
    cur.execute('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s',
                (name,))
    cur.execute('DROP DATABASE IF EXISTS ' + name)
    conn.close()


def database_options(parser):
    """``--db-url`` (an empty database) or ``--postgres`` (a server to make one on), one of
    them required: the options of the scripts that start a metadata server of their own."""
    where = parser.add_mutually_exclusive_group(required=True)
    where.add_argument('--db-url', help='an empty database to start the server on')
    where.add_argument('--postgres', help='a PostgreSQL server: a new database is made on it')


def run_on_metadata(args, prefix, run):
    """Start a metadata server on ``args``' database (see :func:`database_options`), call
    ``run(url, db_url)`` for its Markdown lines, stop the server (and drop a database made
    here), then print and append the lines (``args.results``)."""
    db_url = args.db_url or fresh_postgres(args.postgres, prefix)
    proc, url = start_metadata(db_url)
    try:
        lines = run(url, db_url)
    finally:
        proc.terminate()
        proc.wait(10)
        if args.postgres:
            drop_postgres(db_url)
    report(lines, args.results, db_url)
    return 0

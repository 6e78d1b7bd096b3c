#!/usr/bin/env python3
"""CPU time per ``GET /getid`` inside the WSGI application, fast path against CherryPy's.

The load tests on a shared 2-core machine are noisy; CPU time per request in one process
is not. This calls ``pacifica.uniqueid.wsgi.application`` directly (no HTTP server), on a
fresh SQLite database or the given PostgreSQL server, alternating rounds of the plain
query (``range=1&mode=m``, the fast path) and the same query percent-encoded
(``range=%31``, which the fast path leaves to CherryPy), and prints the median CPU
microseconds per request of each and of ``GET /``.

    python benchmarks/uniqueid_wsgi_cost.py [--db postgresql://...] [--requests 3000]
"""
import argparse
import io
import os
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def _environ(path, query):
    return {'REQUEST_METHOD': 'GET', 'SCRIPT_NAME': '', 'PATH_INFO': path,
            'QUERY_STRING': query, 'SERVER_NAME': '127.0.0.1', 'SERVER_PORT': '8051',
            'SERVER_PROTOCOL': 'HTTP/1.1', 'REMOTE_ADDR': '127.0.0.1', 'REMOTE_PORT': '5000',
            'HTTP_HOST': '127.0.0.1:8051', 'wsgi.url_scheme': 'http',
            'wsgi.input': io.BytesIO(b''), 'wsgi.errors': sys.stderr,
            'wsgi.multithread': True, 'wsgi.multiprocess': False, 'wsgi.run_once': False,
            'wsgi.version': (1, 0)}


def _round(application, path, query, count):
    statuses = []

    def start_response(status, _headers, _exc_info=None):
        statuses.append(status)
    started = time.process_time()
    for _ in range(count):
        result = application(_environ(path, query), start_response)
        b''.join(result)
        if hasattr(result, 'close'):
            result.close()
    spent = time.process_time() - started
    assert all(s.startswith('200') for s in statuses), statuses[:3]
    return 1e6 * spent / count


def main():
    """Set up a database, load the app, time alternating rounds."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--db', default='sqlite')
    parser.add_argument('--requests', type=int, default=3000)
    parser.add_argument('--rounds', type=int, default=5)
    args = parser.parse_args()
    tmpdir = tempfile.mkdtemp(prefix='bench-uniqueid-cost-')
    sys.path.insert(0, HERE)
    import benchlib  # pylint: disable=import-outside-toplevel
    db_url = ('sqliteext:///' + os.path.join(tmpdir, 'u.sqlite3') if args.db == 'sqlite'
              else benchlib.fresh_postgres(args.db, 'bench_uniqueid_cost'))
    os.environ.update(PEEWEE_URL=db_url, HOME=tmpdir,
                      UNIQUEID_CONFIG=os.path.join(tmpdir, 'none.ini'),
                      UNIQUEID_CPCONFIG=os.path.join(tmpdir, 'none.conf'))
    try:
        code = 'import sys, pacifica.uniqueid.__main__ as m; sys.exit(m.cmd(sys.argv[1:]))'
        subprocess.run([sys.executable, '-c', code, 'dbsync'], cwd=tmpdir, check=True,
                       capture_output=True)
        sys.path.insert(0, ROOT)
        from pacifica.uniqueid.wsgi import application  # pylint: disable=import-outside-toplevel
        kinds = {'getid, fast path': ('/getid', 'range=1&mode=m'),
                 'getid, CherryPy': ('/getid', 'range=%31&mode=m'),
                 'GET /, CherryPy': ('/', '')}
        for path, query in kinds.values():    # warm up (connection, imports)
            _round(application, path, query, 200)
        results = {name: [] for name in kinds}
        for _ in range(args.rounds):
            for name, (path, query) in kinds.items():
                results[name].append(_round(application, path, query, args.requests))
        print('database: {}'.format('sqlite' if args.db == 'sqlite' else 'postgresql'))
        for name, values in results.items():
            print('{:<18} median {:6.0f} CPU us/request   rounds {}'.format(
                name, statistics.median(values), ' '.join('{:.0f}'.format(v) for v in values)))
    finally:
        if not db_url.startswith('sqlite'):
            benchlib.drop_postgres(db_url)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Load test for UniqueID: concurrent clients against a server, with duplicate detection.

For each client count it runs a bounded number of ``GET /getid`` requests and, against the
same server, ``GET /`` (the HTTP cost with no database work), then prints requests/s, p50
and p99 latency, errors and duplicate ids. With ``--pgbench URL`` it also runs pgbench
against that PostgreSQL database with the same single-row ``UPDATE ... RETURNING`` the
service issues, at the same client counts: the database's own limit.

Against a server you run yourself:
    python benchmarks/uniqueid.py --url http://127.0.0.1:8051 [--pgbench postgresql://...]

Or let the script start the configuration (on free ports, in a temporary directory):
    python benchmarks/uniqueid.py --start cherrypy --db sqlite
    python benchmarks/uniqueid.py --start cherrypy --db postgresql://postgres@127.0.0.1/postgres
    python benchmarks/uniqueid.py --start uwsgi --db postgresql://postgres@127.0.0.1/postgres
    python benchmarks/uniqueid.py --start uwsgi-threads --db postgresql://postgres@127.0.0.1/postgres
    python benchmarks/uniqueid.py --start two --db postgresql://postgres@127.0.0.1/postgres

Clients are spread over worker processes (one Python process cannot drive 32 connections
fast enough), each client holding one keep-alive connection.
"""
import argparse
import json
import multiprocessing
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import urlsplit

import benchlib
from benchlib import free_port, wait_up

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


# -- load generation -------------------------------------------------------------------------
class _Connection:
    """A minimal keep-alive HTTP/1.1 client: pre-built request bytes and just enough parsing
    (status, Content-Length, Connection) to read the body. http.client spends more CPU per
    request than the server being measured, on a machine whose cores the server needs."""

    def __init__(self, host, port):
        self.address = (host, port)
        self.sock = None
        self.buffer = b''

    def close(self):
        """Drop the connection."""
        if self.sock is not None:
            self.sock.close()
        self.sock, self.buffer = None, b''

    def request(self, raw):
        """Send one request; returns (status, body)."""
        if self.sock is None:
            self.sock = socket.create_connection(self.address, timeout=60)
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.sendall(raw)
        while b'\r\n\r\n' not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('connection closed before the response')
            self.buffer += chunk
        head, _, rest = self.buffer.partition(b'\r\n\r\n')
        lines = head.split(b'\r\n')
        status = int(lines[0].split()[1])
        headers = dict(line.split(b':', 1) for line in lines[1:])
        headers = {k.strip().lower(): v.strip() for k, v in headers.items()}
        length = int(headers.get(b'content-length', b'0'))
        while len(rest) < length:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError('connection closed inside the body')
            rest += chunk
        body, self.buffer = rest[:length], rest[length:]
        if headers.get(b'connection', b'').lower() == b'close':
            self.close()
        return status, body


def _client(args):
    """One client: ``count`` requests over one keep-alive connection (reconnecting if the
    server closes it). Returns (latencies, ranges, errors)."""
    urls, path_fmt, count, seed = args
    base = urlsplit(urls[seed % len(urls)])
    conn = _Connection(base.hostname, base.port)
    template = 'GET {} HTTP/1.1\r\nHost: ' + base.netloc + '\r\n\r\n'
    latencies, ranges, errors = [], [], []
    for number in range(count):
        path = path_fmt.format(n=1 + (seed + number) % 5)
        raw = template.format(path).encode('ascii')
        start = time.perf_counter()
        try:
            status, body = conn.request(raw)
        except OSError as exc:
            errors.append(repr(exc))
            conn.close()
            continue
        latencies.append(time.perf_counter() - start)
        if status != 200:
            errors.append('{} {}'.format(status, body[:100]))
        elif path.startswith('/getid'):
            data = json.loads(body)
            ranges.append((data['startIndex'], data['endIndex']))
    conn.close()
    return latencies, ranges, errors


def _process(args):
    """A worker process running several clients in threads."""
    from concurrent.futures import ThreadPoolExecutor  # pylint: disable=import-outside-toplevel
    jobs = args
    with ThreadPoolExecutor(len(jobs)) as pool:
        return list(pool.map(_client, jobs))


def run_load(urls, path_fmt, clients, total, processes):
    """``total`` requests from ``clients`` concurrent clients; returns a result dict."""
    per_client = max(1, total // clients)
    jobs = [(urls, path_fmt, per_client, seed) for seed in range(clients)]
    processes = min(processes, clients)
    groups = [jobs[i::processes] for i in range(processes)]
    with multiprocessing.get_context('fork').Pool(processes) as pool:
        started = time.perf_counter()
        results = [r for group in pool.map(_process, groups) for r in group]
        elapsed = time.perf_counter() - started
    latencies = sorted(x for lat, _, _ in results for x in lat)
    ranges = [r for _, rs, _ in results for r in rs]
    errors = [e for _, _, es in results for e in es]
    ids = [i for start, end in ranges for i in range(start, end + 1)]
    return {
        'clients': clients,
        'requests': len(latencies) + len([e for e in errors if not e[:3].isdigit()]),
        'rps': len(latencies) / elapsed if elapsed else 0.0,
        'p50_ms': 1000 * latencies[len(latencies) // 2] if latencies else None,
        'p99_ms': 1000 * latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
        if latencies else None,
        'errors': len(errors),
        'error_sample': errors[:3],
        'duplicates': len(ids) - len(set(ids)),
    }


# -- pgbench -------------------------------------------------------------------------------
def pgbench(url, clients, seconds, tmpdir):
    """pgbench's transactions/s for the service's single-row UPDATE ... RETURNING."""
    binary = shutil.which('pgbench')
    if not binary:
        return None
    script = os.path.join(tmpdir, 'getid.sql')
    with open(script, 'w', encoding='utf-8') as handle:
        handle.write('UPDATE uniqueindex SET "index" = "index" + 1 '
                     'WHERE id = \'pgbench\' RETURNING "index";\n')
    parts = urlsplit(url)
    env = dict(os.environ, PGHOST=parts.hostname or '127.0.0.1', PGPORT=str(parts.port or 5432),
               PGUSER=parts.username or 'postgres', PGDATABASE=parts.path.lstrip('/'))
    if parts.password:
        env['PGPASSWORD'] = parts.password
    subprocess.run(['psql', '-q', '-c', 'INSERT INTO uniqueindex (id, "index") VALUES '
                    '(\'pgbench\', 0) ON CONFLICT DO NOTHING'], env=env, check=True,
                   capture_output=True)
    done = subprocess.run([binary, '-n', '-c', str(clients), '-j', str(min(clients, 2)),
                           '-T', str(seconds), '-f', script], env=env, check=True,
                          capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith('tps ='):
            return float(line.split()[2])
    return None


# -- starting configurations ---------------------------------------------------------------
# uWSGI's worker options per configuration: four processes, or one process of eight threads.
UWSGI_WORKERS = {'uwsgi': ['-p', '4'], 'uwsgi-threads': ['-p', '1', '--threads', '8']}


def start(kind, db_url, tmpdir, port=None):
    """Start a configuration (on ``port`` and up when given, else on free ports); returns
    (urls, processes)."""
    env = dict(os.environ, PEEWEE_URL=db_url, HOME=tmpdir,
               UNIQUEID_CONFIG=os.path.join(tmpdir, 'none.ini'),
               UNIQUEID_CPCONFIG=os.path.join(tmpdir, 'none.conf'))
    code = 'import sys, pacifica.uniqueid.__main__ as m; sys.exit(m.cmd(sys.argv[1:]))'
    subprocess.run([sys.executable, '-c', code, 'dbsync'], env=env, cwd=tmpdir, check=True,
                   capture_output=True)
    procs, urls, base = [], [], port
    count = 2 if kind == 'two' else 1
    for number in range(count):
        port = base + number if base else free_port()
        if kind in UWSGI_WORKERS:
            uwsgi = os.path.join(os.path.dirname(sys.executable), 'uwsgi')
            argv = [uwsgi if os.path.exists(uwsgi) else 'uwsgi', '--http11-socket',
                    '127.0.0.1:{}'.format(port), '--master'] + UWSGI_WORKERS[kind] + [
                        '--module', 'pacifica.uniqueid.wsgi', '--die-on-term',
                        '--disable-logging', '--listen', '128']
        else:
            argv = [sys.executable, '-m', 'pacifica.uniqueid', '-a', '127.0.0.1', '-p',
                    str(port)]
        log = open(os.path.join(tmpdir, 'server-{}.log'.format(port)), 'wb')  # pylint: disable=consider-using-with
        proc = subprocess.Popen(argv, env=env, cwd=tmpdir, stdout=log,  # pylint: disable=consider-using-with
                                stderr=subprocess.STDOUT, start_new_session=True)
        url = 'http://127.0.0.1:{}'.format(port)
        wait_up(url, proc)
        procs.append(proc)
        urls.append(url)
    return urls, procs


def stop(procs):
    """Stop started servers."""
    for proc in procs:
        try:
            os.killpg(proc.pid, 15)
        except ProcessLookupError:
            pass
    for proc in procs:
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def main():
    """Parse arguments, run the load, print a table and JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument('--url', action='append', help='running server(s) to load')
    parser.add_argument('--start', choices=['cherrypy', 'uwsgi', 'uwsgi-threads', 'two'],
                        help='start this configuration instead of --url')
    parser.add_argument('--db', default='sqlite',
                        help='with --start: "sqlite" or a PostgreSQL server URL (a fresh '
                             'database is created on it and dropped afterwards)')
    parser.add_argument('--pgbench', default=None,
                        help='PostgreSQL URL of the service database for the pgbench limit '
                             '(implied by --start with a PostgreSQL --db)')
    parser.add_argument('--port', type=int, default=None,
                        help='with --start: the first port to serve on (default: free ports)')
    parser.add_argument('--clients', default='1,8,32')
    parser.add_argument('--requests', type=int, default=4000,
                        help='requests per client count (bounded load)')
    parser.add_argument('--processes', type=int, default=2, help='load-generating processes')
    parser.add_argument('--pgbench-seconds', type=int, default=5)
    parser.add_argument('--rounds', type=int, default=1,
                        help='repeat getid and pgbench alternately this many times per client '
                             'count and report each round and the median ratio (the machine '
                             'is shared: a ratio is only meaningful within one round)')
    args = parser.parse_args()

    tmpdir = tempfile.mkdtemp(prefix='bench-uniqueid-')
    procs, db_url = [], None
    try:
        if args.start:
            if args.db == 'sqlite':
                db_url = 'sqliteext:///' + os.path.join(tmpdir, 'uniqueid.sqlite3')
            else:
                db_url = benchlib.fresh_postgres(args.db, 'bench_uniqueid')
                args.pgbench = args.pgbench or db_url
            urls, procs = start(args.start, db_url, tmpdir, args.port)
        elif args.url:
            urls = args.url
        else:
            parser.error('give --url or --start')
        label = '{} + {}'.format(args.start or 'server', 'sqlite' if args.db == 'sqlite'
                                 else 'postgresql') if args.start else ', '.join(urls)
        mode = 'bench-{}'.format(uuid.uuid4().hex[:8])
        rows = []
        for clients in [int(c) for c in args.clients.split(',')]:
            for _ in range(args.rounds):
                status = run_load(urls, '/', clients, args.requests, args.processes)
                getid = run_load(urls, '/getid?range={n}&mode=' + mode, clients,
                                 args.requests, args.processes)
                limit = (pgbench(args.pgbench, clients, args.pgbench_seconds, tmpdir)
                         if args.pgbench else None)
                rows.append({'clients': clients, 'getid': getid, 'status': status,
                             'pgbench_tps': limit})
        print('configuration: {}'.format(label))
        print('{:>7} {:>10} {:>8} {:>8} {:>7} {:>5} {:>10} {:>9} {:>10} {:>9}'.format(
            'clients', 'getid r/s', 'p50 ms', 'p99 ms', 'errors', 'dups', 'GET / r/s',
            'getid/GET', 'pgbench', 'getid/pg'))
        for row in rows:
            g, s, limit = row['getid'], row['status'], row['pgbench_tps']
            print('{:>7} {:>10.0f} {:>8.2f} {:>8.2f} {:>7} {:>5} {:>10.0f} {:>9.2f} {:>10} '
                  '{:>9}'.format(row['clients'], g['rps'], g['p50_ms'], g['p99_ms'],
                                 g['errors'] + s['errors'], g['duplicates'], s['rps'],
                                 g['rps'] / s['rps'] if s['rps'] else 0,
                                 '{:.0f}'.format(limit) if limit else '-',
                                 '{:.2f}'.format(g['rps'] / limit) if limit else '-'))
            for sample in g['error_sample'] + s['error_sample']:
                print('    error: ' + sample)
        if args.rounds > 1:
            for clients in [int(c) for c in args.clients.split(',')]:
                ratios = sorted(r['getid']['rps'] / r['pgbench_tps'] for r in rows
                                if r['clients'] == clients and r['pgbench_tps'])
                if ratios:
                    print('median getid/pgbench at {} clients over {} rounds: {:.2f}'.format(
                        clients, len(ratios), ratios[len(ratios) // 2]))
        print(json.dumps({'configuration': label, 'rows': rows}))
    finally:
        stop(procs)
        if db_url and not db_url.startswith('sqlite'):
            benchlib.drop_postgres(db_url)
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == '__main__':
    sys.path.insert(0, ROOT)
    main()

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

Clients are spread over worker processes (``--processes``), each client holding one
keep-alive connection with one request outstanding; a process drives its clients from one
poll loop rather than a thread each. That took the load generator's CPU per request from
about 90 to 60 us against the uWSGI deployment (30-50 to 17-20 against a trivial server):
CPU that the server and the database need on a two-core machine.
"""
import argparse
import json
import multiprocessing
import os
import select
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
class _Client:
    """One client: ``count`` requests, one at a time, over one keep-alive connection
    (reconnecting when the server closes it or a request fails).

    A response is parsed just enough to find its end (status, Content-Length, Connection:
    close); a getid body is kept as bytes and decoded after the timed run. The client must
    cost far less CPU than the server it measures, on a machine whose two cores the server
    and the database need too.
    """

    def __init__(self, address, netloc, path_fmt, count, seed):
        self.address = address
        # the five requests a client cycles through (range=1..5), built once
        self.requests = [
            'GET {} HTTP/1.1\r\nHost: {}\r\n\r\n'.format(
                path_fmt.format(n=1 + (seed + number) % 5), netloc).encode('ascii')
            for number in range(5)]
        self.getid = path_fmt.startswith('/getid')
        self.left = count
        self.number = 0
        self.sock = None
        self.buffer = b''
        self.sent_at = 0.0
        self.latencies, self.bodies, self.errors = [], [], []

    def send(self, poller, clients):
        """Send the next request (connecting first if need be); False (and the connection
        closed) when there is none left."""
        while self.left:
            self.left -= 1
            raw = self.requests[self.number % 5]
            self.number += 1
            try:
                if self.sock is None:
                    self.sock = socket.create_connection(self.address, timeout=60)
                    self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    poller.register(self.sock.fileno(), select.POLLIN)
                    clients[self.sock.fileno()] = self
                self.sent_at = time.perf_counter()
                self.sock.sendall(raw)
                return True
            except OSError as exc:
                self.fail(poller, clients, repr(exc))
        self.close(poller, clients)
        return False

    def fail(self, poller, clients, error):
        """Record a failed request and drop the connection."""
        self.errors.append(error)
        self.close(poller, clients)

    def close(self, poller, clients):
        """Drop the connection."""
        if self.sock is not None:
            poller.unregister(self.sock.fileno())
            del clients[self.sock.fileno()]
            self.sock.close()
        self.sock, self.buffer = None, b''

    def readable(self, poller, clients):
        """Read what arrived; on a whole response, record it and send the next request.
        False when this client is done."""
        try:
            chunk = self.sock.recv(65536)
        except OSError as exc:
            self.fail(poller, clients, repr(exc))
            return self.send(poller, clients)
        if not chunk:
            self.fail(poller, clients, repr(ConnectionError('connection closed by the server')))
            return self.send(poller, clients)
        self.buffer += chunk
        end = self.buffer.find(b'\r\n\r\n')
        if end < 0:
            return True
        head = self.buffer[:end].lower()
        at = head.find(b'\r\ncontent-length:')
        length = 0
        if at >= 0:
            stop = head.find(b'\r\n', at + 17)
            length = int(head[at + 17:stop if stop >= 0 else end])
        if len(self.buffer) < end + 4 + length:
            return True
        self.latencies.append(time.perf_counter() - self.sent_at)
        body = self.buffer[end + 4:end + 4 + length]
        self.buffer = self.buffer[end + 4 + length:]
        status = head[9:12]
        if status != b'200':
            self.errors.append('{} {}'.format(status.decode('ascii', 'replace'), body[:100]))
        elif self.getid:
            self.bodies.append(body)
        if b'\r\nconnection: close' in head:
            self.close(poller, clients)
        return self.send(poller, clients)


def _process(jobs):
    """A load-generating process: its clients driven from one poll loop (a thread per client
    cost more CPU in thread switches and the GIL than the requests themselves). Returns its
    start and end times and each client's (latencies, getid bodies, errors)."""
    poller, clients, active = select.poll(), {}, []
    started = time.perf_counter()
    for job in jobs:
        client = _Client(*job)
        active.append(client)
        client.send(poller, clients)
    while clients:
        events = poller.poll(60000)
        if not events:     # every outstanding request timed out
            for client in list(clients.values()):
                client.fail(poller, clients, repr(TimeoutError('no response in 60 s')))
                client.send(poller, clients)
            continue
        for fd, _ in events:
            client = clients.get(fd)
            if client is not None:
                client.readable(poller, clients)
    ended = time.perf_counter()
    return started, ended, [(c.latencies, c.bodies, c.errors) for c in active]


def run_load(urls, path_fmt, clients, total, processes):
    """``total`` requests from ``clients`` concurrent clients; returns a result dict."""
    per_client = max(1, total // clients)
    jobs = []
    for seed in range(clients):
        base = urlsplit(urls[seed % len(urls)])
        jobs.append(((base.hostname, base.port), base.netloc, path_fmt, per_client, seed))
    processes = min(processes, clients)
    groups = [jobs[i::processes] for i in range(processes)]
    with multiprocessing.get_context('fork').Pool(processes) as pool:
        done = pool.map(_process, groups)
    # from the first process's start to the last one's end: neither the pool's start-up nor
    # sending the results back is timed (perf_counter is one clock across processes here)
    elapsed = max(end for _, end, _ in done) - min(start for start, _, _ in done)
    results = [r for _, _, group in done for r in group]
    latencies = sorted(x for lat, _, _ in results for x in lat)
    ranges = []
    for _, bodies, _ in results:
        for body in bodies:
            data = json.loads(body)
            ranges.append((data['startIndex'], data['endIndex']))
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

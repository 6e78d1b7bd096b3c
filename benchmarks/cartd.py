#!/usr/bin/env python3
"""Cartd benchmark: time from POST to ``ready`` and download throughput, beside the raw limits
measured in the same run on the same machine.

Workloads (issue 5): (a) 200 files of 1 MB, (b) one file of 512 MB.

Raw limits measured first:
* one client GETting and hashing (sha256) the same files straight from the archive interface
  (the limit the POST-to-ready time is compared with: at most 1.5x, issue 13; each of
  ``--carts`` carts of the small workload follows a raw GET of its own, and the median ratio
  is reported);
* nginx serving the archive directory (Debian's ``nginx`` if it is installed): the archive
  interface's GET of the 512 MB file should reach at least 0.4x of it;
* ``cat`` of the files (the disk and page cache).

Transfers (archive GET without hashing, nginx, cart downloads) are the best of ``--runs``
runs (default 15): at these rates a 512 MB transfer lasts a fraction of a second.

Then, for each broker given (default: the embedded filesystem broker, plus RabbitMQ with
``--broker pyamqp://...``): cartd + one Celery worker with default settings, a cart of each
workload (after a 20-file cart that warms the worker, as 20 GETs warm the raw client's
connection), polled like the python downloader (HEAD every 20 ms here, to measure), downloaded
(its throughput should be at least 0.9x of the archive's own GET of the same bytes).

    python benchmarks/cartd.py [--broker pyamqp://guest:guest@127.0.0.1:5672//]
                               [--db postgresql://postgres@127.0.0.1/postgres]
                               [--small-only] [--results benchmarks/RESULTS.md]

Everything runs in a temporary directory on free ports and is stopped at the end.
"""
import argparse
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from urllib.parse import urlsplit

import requests

import benchlib
from benchlib import free_port

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
MB = 1024 * 1024
BLOCK = 4 * MB


class Proc:
    """A child process in its own group, logging to a file, stopped with its children."""

    def __init__(self, argv, env, cwd, name, ready_url=None, ready_text=None, timeout=60):
        self.log_path = os.path.join(cwd, name + '.log')
        with open(self.log_path, 'wb') as log:
            self.proc = subprocess.Popen(argv, env=env, cwd=cwd, stdout=log,  # pylint: disable=consider-using-with
                                         stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise SystemExit('{} exited: {}'.format(name, self.output()[-2000:]))
            if time.monotonic() > deadline:
                self.stop()
                raise SystemExit('{} did not start: {}'.format(name, self.output()[-2000:]))
            if ready_url:
                try:
                    requests.get(ready_url, timeout=1)
                    return
                except requests.ConnectionError:
                    pass
            elif ready_text in self.output():
                return
            time.sleep(0.1)

    def output(self):
        """The log so far."""
        with open(self.log_path, 'rb') as log:
            return log.read().decode('utf-8', 'replace')

    def stop(self):
        """SIGTERM the group, SIGKILL after 20 s."""
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()


def write_random(path, size):
    """A file of ``size`` random-ish bytes (urandom blocks, cheap to make)."""
    block = os.urandom(MB)
    with open(path, 'wb') as handle:
        remaining = size
        while remaining > 0:
            handle.write(block[:min(MB, remaining)])
            block = block[1:] + block[:1]
            remaining -= MB


def sha256_file(path):
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, 'rb') as handle:
        for chunk in iter(lambda: handle.read(BLOCK), b''):
            digest.update(chunk)
    return digest.hexdigest()


def get_all(session, urls, hash_it=True):
    """GET each URL in turn (one client, keep-alive); returns (seconds, bytes)."""
    total = 0
    started = time.perf_counter()
    for url in urls:
        digest = hashlib.sha256() if hash_it else None
        with session.get(url, stream=True) as response:
            response.raise_for_status()
            for chunk in response.iter_content(BLOCK):
                total += len(chunk)
                if digest:
                    digest.update(chunk)
    return time.perf_counter() - started, total


def best_of(runs, measure):
    """The fastest of ``runs`` calls of ``measure()`` (which returns (seconds, bytes)):
    sub-second transfers vary by tens of percent from run to run on a shared machine."""
    return min(measure() for _ in range(runs))


def cat_files(paths):
    """``cat`` the files to /dev/null; returns seconds."""
    started = time.perf_counter()
    for start in range(0, len(paths), 100):
        subprocess.run(['cat'] + paths[start:start + 100], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - started


def start_nginx(work, root, binary=None):
    """Debian's nginx serving ``root``; None when nginx is not installed."""
    binary = binary or shutil.which('nginx') or (
        '/usr/sbin/nginx' if os.path.exists('/usr/sbin/nginx') else None)
    if not binary:
        return None, None
    port = free_port()
    conf = os.path.join(work, 'nginx.conf')
    with open(conf, 'w', encoding='utf-8') as handle:
        # Started as root, nginx drops its workers to nobody, who cannot read the private
        # temporary directory; keep them as the invoking user.
        if os.geteuid() == 0:
            handle.write('user root;\n')
        handle.write('''daemon off; worker_processes 1; pid {w}/nginx.pid;
error_log {w}/nginx-error.log;
events {{ worker_connections 64; }}
http {{ access_log off; sendfile on; tcp_nopush on;
  client_body_temp_path {w}/nginx-body; proxy_temp_path {w}/nginx-proxy;
  fastcgi_temp_path {w}/nginx-fcgi; uwsgi_temp_path {w}/nginx-uwsgi; scgi_temp_path {w}/nginx-scgi;
  server {{ listen 127.0.0.1:{p}; root {r}; location / {{ }} }} }}
'''.format(w=work, p=port, r=root))
    proc = Proc([binary, '-c', conf, '-p', work], dict(os.environ), work, 'nginx',
                ready_url='http://127.0.0.1:{}/'.format(port))
    return proc, 'http://127.0.0.1:{}'.format(port)


class Cartd:
    """cartd + one default Celery worker on one broker."""

    def __init__(self, work, archive_url, db_url, broker):
        self.work = os.path.join(work, 'cartd-' + uuid.uuid4().hex[:6])
        os.makedirs(self.work)
        if db_url.startswith('postgres'):
            db_url = benchlib.fresh_postgres(db_url, 'cartd_bench')
        elif db_url == 'sqlite':
            db_url = 'sqliteext:///' + os.path.join(self.work, 'cart.sqlite3')
        self.db_url = db_url
        env = dict(os.environ, HOME=self.work, CARTD_CONFIG=os.path.join(self.work, 'none'),
                   CARTD_CPCONFIG=os.path.join(self.work, 'none'), PEEWEE_URL=db_url,
                   VOLUME_PATH=os.path.join(self.work, 'volume'),
                   ARCHIVE_INTERFACE_URL=archive_url + '/', PACIFICA_HOME=self.work,
                   CELERY_TASK_QUEUE='bench-' + uuid.uuid4().hex[:8],
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
        if broker != 'filesystem':
            env['BROKER_URL'] = broker
        self.env = env
        subprocess.run([sys.executable, '-c', 'import sys, pacifica.cartd.__main__ as m; '
                        'sys.exit(m.cmd(sys.argv[1:]))', 'dbsync'], env=env, check=True,
                       capture_output=True)
        port = free_port()
        self.url = 'http://127.0.0.1:{}'.format(port)
        self.server = Proc([sys.executable, '-m', 'pacifica.cartd', '-a', '127.0.0.1', '-p',
                            str(port)], env, self.work, 'cartd', ready_url=self.url + '/')
        self.session = None
        self.worker_name = 'bench-{}@%h'.format(uuid.uuid4().hex[:6])
        self.worker = self.start_worker(self.worker_name, 'worker')

    def start_worker(self, node_name, log_name):
        """A Celery worker with default settings named ``node_name``, waited for."""
        return Proc([sys.executable, '-m', 'celery', '-A', 'pacifica.cartd.tasks', 'worker',
                     '--loglevel=info', '-n', node_name], self.env, self.work, log_name,
                    ready_text='ready.')

    def cart(self, files, bundle=False):
        """POST a cart of ``files`` (id, size, sha256); returns (seconds to ready, uid)."""
        uid = uuid.uuid4().hex
        body = {'bundle': bundle, 'fileids': [
            {'id': fid, 'path': 'd{}/{}'.format(n % 10, fid), 'hashtype': 'sha256',
             'hashsum': digest} for n, (fid, _size, digest) in enumerate(files)]}
        session = requests.Session()
        started = time.perf_counter()
        response = session.post('{}/{}'.format(self.url, uid), data=json.dumps(body),
                                headers={'Content-Type': 'application/json'})
        response.raise_for_status()
        while True:
            status = session.head('{}/{}'.format(self.url, uid)).headers['X-Pacifica-Status']
            if status in ('ready', 'error'):
                break
            time.sleep(0.02)
        elapsed = time.perf_counter() - started
        if status != 'ready':
            raise SystemExit('cart ended in error: ' + session.head(
                '{}/{}'.format(self.url, uid)).headers['X-Pacifica-Message'])
        return elapsed, uid

    def download(self, uid):
        """GET the cart as a tar; returns (seconds, bytes). One kept-alive session, like the
        archive GETs it is compared with (a fresh connection per download measured TCP's
        window growth, not the server)."""
        if self.session is None:
            self.session = requests.Session()
        return get_all(self.session, ['{}/{}?filename=data'.format(self.url, uid)],
                       hash_it=False)

    def stop(self):
        """Stop the worker and the server (and drop a PostgreSQL database we made)."""
        self.worker.stop()
        self.server.stop()
        if self.db_url.startswith('postgres'):
            benchlib.drop_postgres(self.db_url)


def _median(values):
    values = sorted(values)
    return values[len(values) // 2]


def ready_rounds(cartd, files, session, urls, count):
    """POST ``count`` carts of ``files``, each right after a raw GET of the same files (the
    two meet the same machine); returns (median seconds to ready, the last cart's uid,
    [(raw seconds, seconds to ready)])."""
    rounds, uid = [], None
    for _ in range(count):
        raw, _bytes = get_all(session, urls)
        ready, uid = cartd.cart(files)
        rounds.append((raw, ready))
    return _median([ready for _raw, ready in rounds]), uid, rounds


def mbps(nbytes, seconds):
    """MB/s (MiB)."""
    return nbytes / MB / seconds if seconds else float('inf')


def main(argv=None):
    """Run the benchmark and print (and optionally record) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--broker', action='append', default=[],
                        help='a broker URL to measure besides the filesystem broker')
    parser.add_argument('--db', default='sqlite', help='sqlite or a PostgreSQL server URL')
    parser.add_argument('--files', type=int, default=200)
    parser.add_argument('--file-mb', type=int, default=1)
    parser.add_argument('--big-mb', type=int, default=512)
    parser.add_argument('--small-only', action='store_true', help='skip the 512 MB workload')
    parser.add_argument('--results', default=None, help='append a Markdown section here')
    parser.add_argument('--carts', type=int, default=3,
                        help='carts of the small workload per broker, each after a raw GET '
                             'of the same files; the median ratio is reported')
    parser.add_argument('--runs', type=int, default=15,
                        help='runs per transfer measurement; the best is reported')
    parser.add_argument('--nginx', default=None,
                        help='nginx binary (default: nginx on PATH or /usr/sbin/nginx; '
                             '`apt-get download nginx && dpkg -x nginx_*.deb DIR` gives one '
                             'without installing the service)')
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix='cartd-bench-')
    archive_root = os.path.join(work, 'archive')
    os.makedirs(archive_root)
    lines = []
    procs = []
    try:
        small = []
        for number in range(args.files):
            fid = 'small{:04d}'.format(number)
            path = os.path.join(archive_root, fid)
            write_random(path, args.file_mb * MB)
            small.append((fid, args.file_mb * MB, sha256_file(path)))
        big = []
        if not args.small_only:
            path = os.path.join(archive_root, 'big')
            write_random(path, args.big_mb * MB)
            big = [('big', args.big_mb * MB, sha256_file(path))]

        port = free_port()
        archive_url = 'http://127.0.0.1:{}'.format(port)
        env = dict(os.environ, HOME=work, ARCHIVEINTERFACE_CONFIG=os.path.join(work, 'none'),
                   ARCHIVEINTERFACE_CPCONFIG=os.path.join(work, 'none'),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
        archive = Proc([sys.executable, '-m', 'pacifica.archiveinterface', '-a', '127.0.0.1',
                        '-p', str(port), '--prefix', archive_root], env, work, 'archive',
                       ready_url=archive_url + '/')
        procs.append(archive)
        nginx, nginx_url = start_nginx(work, archive_root, args.nginx)
        if nginx:
            procs.append(nginx)

        session = requests.Session()
        small_urls = ['{}/{}'.format(archive_url, fid) for fid, _s, _d in small]
        get_all(session, small_urls[:20])   # warm the cache and the connection
        raw_small, small_bytes = get_all(session, small_urls)
        cat_small = cat_files([os.path.join(archive_root, f) for f, _s, _d in small])
        lines.append('| raw: archive GET+sha256, {} x {} MB, one client | {:.2f} s | {:.0f} MB/s |'
                     .format(args.files, args.file_mb, raw_small, mbps(small_bytes, raw_small)))
        lines.append('| raw: cat of the same files | {:.2f} s | {:.0f} MB/s |'.format(
            cat_small, mbps(small_bytes, cat_small)))
        raw_big = archive_big = nginx_big = None
        if big:
            big_url = archive_url + '/big'
            raw_big, big_bytes = get_all(session, [big_url])
            archive_big, _ = best_of(args.runs, lambda: get_all(session, [big_url], hash_it=False))
            cat_big = cat_files([os.path.join(archive_root, 'big')])
            lines.append('| raw: archive GET+sha256, 1 x {} MB | {:.2f} s | {:.0f} MB/s |'.format(
                args.big_mb, raw_big, mbps(big_bytes, raw_big)))
            lines.append('| raw: archive GET (no hash), 1 x {} MB | {:.2f} s | {:.0f} MB/s |'
                         .format(args.big_mb, archive_big, mbps(big_bytes, archive_big)))
            lines.append('| raw: cat, 1 x {} MB | {:.2f} s | {:.0f} MB/s |'.format(
                args.big_mb, cat_big, mbps(big_bytes, cat_big)))
            if nginx:
                nginx_big, _ = best_of(args.runs, lambda: get_all(session, [nginx_url + '/big'],
                                                          hash_it=False))
                lines.append('| raw: nginx GET, 1 x {} MB | {:.2f} s | {:.0f} MB/s |'.format(
                    args.big_mb, nginx_big, mbps(big_bytes, nginx_big)))
                lines.append('| **archive GET / nginx (>= 0.4)** | | **{:.2f}** |'.format(
                    nginx_big / archive_big))
            else:
                lines.append('| raw: nginx | not installed | not measured |')

        for broker in ['filesystem'] + args.broker:
            name = 'filesystem' if broker == 'filesystem' else urlsplit(broker).scheme
            cartd = Cartd(work, archive_url, args.db, broker)
            procs.append(cartd)
            try:
                # The raw side ran on a warm connection; so does cartd: one small cart first
                # (the worker's first task opens its connections and starts its threads).
                cartd.cart(small[:20])
                ready, uid, rounds = ready_rounds(cartd, small, session, small_urls, args.carts)
                lines.append('| {}: {} x {} MB POST to ready (median of {}) | {:.2f} s | '
                             '**{:.2f} x raw (<= 1.5)** |'.format(
                                 name, args.files, args.file_mb, args.carts, ready,
                                 _median([cart / raw for raw, cart in rounds])))
                lines.append('| {}: per cart: raw GET / POST to ready | {} | |'.format(
                    name, ', '.join('{:.2f} / {:.2f} s'.format(*pair) for pair in rounds)))
                seconds, nbytes = best_of(args.runs, lambda: cartd.download(uid))
                archive_plain, _ = best_of(args.runs, lambda: get_all(session, small_urls,
                                                              hash_it=False))
                lines.append('| {}: download {}-file cart (tar) | {:.2f} s | {:.0f} MB/s '
                             '(archive GET of the same bytes: {:.0f} MB/s) |'.format(
                                 name, args.files, seconds, mbps(nbytes, seconds),
                                 mbps(small_bytes, archive_plain)))
                if big:
                    ready, uid = cartd.cart(big)
                    lines.append('| {}: 1 x {} MB POST to ready | {:.2f} s | {:.2f} x raw |'
                                 .format(name, args.big_mb, ready, ready / raw_big))
                    # Alternate the two transfers so both meet the same machine conditions.
                    seconds, direct = float('inf'), float('inf')
                    for _ in range(args.runs):
                        took, nbytes = cartd.download(uid)
                        seconds = min(seconds, took)
                        direct = min(direct, get_all(session, [big_url], hash_it=False)[0])
                    lines.append('| {}: download 1 x {} MB cart | {:.2f} s | {:.0f} MB/s, '
                                 '**{:.2f} x archive GET (>= 0.9)**, archive GET alternated '
                                 'with it: {:.0f} MB/s |'.format(
                                     name, args.big_mb, seconds, mbps(nbytes, seconds),
                                     direct / seconds, mbps(big_bytes, direct)))
            finally:
                cartd.stop()
                procs.remove(cartd)
    finally:
        for proc in reversed(procs):
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)

    header = ['', '## cartd ({}, db {}, {} CPUs)'.format(
        time.strftime('%Y-%m-%d %H:%M'), 'sqlite' if args.db == 'sqlite' else 'postgresql',
        os.cpu_count()), '', '| measurement | time | rate / ratio |', '| --- | --- | --- |']
    text = '\n'.join(header + lines) + '\n'
    print(text)
    if args.results:
        with open(args.results, 'a', encoding='utf-8') as handle:
            handle.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())

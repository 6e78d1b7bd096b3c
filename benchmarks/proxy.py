#!/usr/bin/env python3
"""Streaming throughput of one large file through the proxy, beside its raw limits.

In one run, on one file (default 512 MB of random bytes): ``cat`` of the archived file,
the archive interface's own ``GET /<id>``, and the proxy's ``GET /files/sha1/<hash>`` (which
looks the hash up in metadata, streams from the archive and hashes while streaming). One
client reads each transfer to the end; an untimed first pass checks every byte's sha1. The
script starts metadata (SQLite), the archive interface and the proxy on free ports in a
temporary directory.

During each proxy GET it also counts the CPU time (user + system, all threads) of the proxy,
the archive and this client, per GB moved. All three share this machine's cores, so
``cores / total CPU per byte`` bounds the proxy's rate here however fast the proxy is; the
printed bound is that or the one-core SHA-1 rate, whichever is lower.

    python benchmarks/proxy.py [--size-mb 512] [--repeat 3]
"""
import argparse
import hashlib
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from urllib.parse import urlsplit

import requests

from benchlib import free_port, wait_up

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
CHUNK = 1024 * 1024


def start(module, tmpdir, env, *args):
    """Start ``python -m module`` on a free port; returns (process, base URL)."""
    port = free_port()
    log = open(os.path.join(tmpdir, module + '.log'), 'wb')  # pylint: disable=consider-using-with
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', module, '-a', '127.0.0.1', '-p', str(port)] + list(args),
        env=env, cwd=tmpdir, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = 'http://127.0.0.1:{}'.format(port)
    wait_up(url, proc)
    return proc, url


def timed_get(url, verify=False):
    """GET ``url`` and read every byte; returns (seconds, bytes, sha1 hex or None).

    The client is as cheap as a fast real one, so that it takes as little as it can of the
    CPU the servers need on a small machine: after the headers it reads the body straight
    from the socket with ``recv_into`` one reused 1 MiB buffer (no file object, no
    ``http.client`` layer per read). Timed runs only count the bytes; one untimed run per
    source hashes them."""
    digest = hashlib.sha1() if verify else None
    parts = urlsplit(url)
    block = bytearray(CHUNK)
    view = memoryview(block)
    started = time.perf_counter()
    with socket.create_connection((parts.hostname, parts.port), timeout=600) as sock:
        sock.sendall('GET {} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n'.format(
            parts.path, parts.netloc).encode('ascii'))
        head = b''
        while b'\r\n\r\n' not in head:
            count = sock.recv_into(block)
            if not count:
                raise SystemExit('{} closed before its headers'.format(url))
            head += view[:count]
        head, _sep, first = head.partition(b'\r\n\r\n')
        lines = head.decode('latin-1').split('\r\n')
        if lines[0].split()[1] != '200':
            raise SystemExit('{} answered {}'.format(url, lines[0]))
        length = int(next(line.split(':', 1)[1] for line in lines[1:]
                          if line.lower().startswith('content-length:')))
        if digest is not None:
            digest.update(first)
        total = len(first)
        while total < length:
            count = sock.recv_into(block, min(CHUNK, length - total))
            if not count:
                break
            if digest is not None:
                digest.update(view[:count])
            total += count
    return time.perf_counter() - started, total, digest.hexdigest() if digest else None


def cpu_seconds(pid=None):
    """User and system CPU seconds of process ``pid`` (all its threads) so far; of this
    process without ``pid``."""
    if pid is None:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        return usage.ru_utime, usage.ru_stime
    with open('/proc/{}/stat'.format(pid), encoding='ascii') as handle:
        fields = handle.read().rsplit(')', 1)[1].split()
    tick = os.sysconf('SC_CLK_TCK')
    return int(fields[11]) / tick, int(fields[12]) / tick


def with_cpu(run, pids):
    """``run()``'s result and ``{name: (user, system) CPU seconds it took}`` for each
    ``pids`` entry (None: this process)."""
    before = {name: cpu_seconds(pid) for name, pid in pids.items()}
    result = run()
    after = {name: cpu_seconds(pid) for name, pid in pids.items()}
    return result, {name: (after[name][0] - before[name][0], after[name][1] - before[name][1])
                    for name in pids}


def timed_cat(path):
    """``cat FILE > /dev/null``: reading the stored file (from the page cache, warm)."""
    started = time.perf_counter()
    subprocess.run(['cat', path], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started, os.path.getsize(path), None


def timed_sha1(path):
    """SHA-1 of the stored file on one core, in the proxy's 1 MiB blocks (from the page
    cache): the bound a verifying proxy cannot beat, since one SHA-1 cannot be split."""
    digest = hashlib.sha1()
    block = bytearray(CHUNK)
    view = memoryview(block)
    total = 0
    started = time.perf_counter()
    with open(path, 'rb', buffering=0) as handle:
        while True:
            count = handle.readinto(block)
            if not count:
                break
            digest.update(view[:count])
            total += count
    return time.perf_counter() - started, total, digest.hexdigest()


def main():
    """Set up, measure, print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--size-mb', type=int, default=512)
    parser.add_argument('--repeat', type=int, default=3)
    args = parser.parse_args()
    tmpdir = tempfile.mkdtemp(prefix='bench-proxy-')
    env = dict(os.environ, HOME=tmpdir, PYTHONPATH=ROOT,
               METADATA_CONFIG=os.path.join(tmpdir, 'none'),
               METADATA_CPCONFIG=os.path.join(tmpdir, 'none'),
               PROXY_CONFIG=os.path.join(tmpdir, 'none'),
               PROXY_CPCONFIG=os.path.join(tmpdir, 'none'),
               ARCHIVEINTERFACE_CONFIG=os.path.join(tmpdir, 'none'),
               ARCHIVEINTERFACE_CPCONFIG=os.path.join(tmpdir, 'none'),
               PEEWEE_URL='sqliteext:///' + os.path.join(tmpdir, 'md.sqlite3'))
    # The benchmark measures transfers, not logging: keep CherryPy's screen log off.
    quiet = os.path.join(tmpdir, 'quiet.conf')
    with open(quiet, 'w', encoding='utf-8') as handle:
        handle.write('[global]\nlog.screen: False\n')
    procs = []
    try:
        source = os.path.join(tmpdir, 'source.bin')
        digest = hashlib.sha1()
        with open(source, 'wb') as handle:
            for _ in range(args.size_mb):
                block = os.urandom(CHUNK)
                digest.update(block)
                handle.write(block)
        hashsum = digest.hexdigest()
        archive_dir = os.path.join(tmpdir, 'archive')
        os.mkdir(archive_dir)
        proc, archive = start('pacifica.archiveinterface', tmpdir, env, '--prefix',
                              archive_dir, '--cpconfig', quiet)
        procs.append(proc)
        subprocess.run([sys.executable, '-c', 'import sys, pacifica.metadata.__main__ as m; '
                        'sys.exit(m.cmd(["dbsync"]))'], env=env, cwd=tmpdir, check=True,
                       capture_output=True)
        proc, metadata = start('pacifica.metadata', tmpdir, env, '--cpconfig', quiet)
        procs.append(proc)
        with open(source, 'rb') as handle:
            requests.put(archive + '/1', data=handle, timeout=600,
                         headers={'Content-Type': 'application/octet-stream'}
                         ).raise_for_status()
        requests.put(metadata + '/transactions', json=[{'_id': 1}], timeout=10
                     ).raise_for_status()
        requests.put(metadata + '/files', timeout=10, json=[{
            '_id': 1, 'name': 'big.bin', 'hashsum': hashsum, 'hashtype': 'sha1',
            'size': os.path.getsize(source), 'transaction': 1}]).raise_for_status()
        proxy_env = dict(env, METADATA_URL=metadata, METADATA_STATUS_URL=metadata + '/keys',
                         ARCHIVEINTERFACE_URL=archive)
        proc, proxy = start('pacifica.proxy', tmpdir, proxy_env, '--cpconfig', quiet)
        procs.append(proc)
        pids = {'proxy': proc.pid, 'archive': procs[0].pid, 'client': None}
        stored = [os.path.join(r, n) for r, _, ns in os.walk(archive_dir) for n in ns][0]
        proxied = '{}/files/sha1/{}'.format(proxy, hashsum)
        for url in (archive + '/1', proxied):
            assert timed_get(url, verify=True)[2] == hashsum, '{} sent wrong bytes'.format(url)
        rows = {'cat': [], 'sha1 one core': [], 'archive GET': [], 'proxy GET': []}
        cpu = {name: [0.0, 0.0] for name in pids}
        for _ in range(args.repeat):   # interleaved: the machine is shared
            rows['cat'].append(timed_cat(stored))
            rows['sha1 one core'].append(timed_sha1(stored))
            rows['archive GET'].append(timed_get(archive + '/1'))
            result, used = with_cpu(lambda: timed_get(proxied), pids)
            rows['proxy GET'].append(result)
            for name, (user, system) in used.items():
                cpu[name][0] += user
                cpu[name][1] += system
        print('file: {} MB, sha1 {}'.format(args.size_mb, hashsum))
        best = {}
        for name, results in rows.items():
            assert all(r[1] == os.path.getsize(source) for r in results), \
                '{} returned a wrong length'.format(name)
            rates = [r[1] / r[0] / 1e6 for r in results]
            best[name] = max(rates)
            print('{:<15} best {:7.0f} MB/s   runs {}'.format(
                name, best[name], ' '.join('{:.0f}'.format(r) for r in rates)))
        print('proxy / archive GET: {:.2f}'.format(best['proxy GET'] / best['archive GET']))
        ratios = sorted(p[1] / p[0] / (s[1] / s[0]) for p, s in zip(rows['proxy GET'],
                                                                   rows['sha1 one core']))
        print('proxy / sha1 one core, per round: {}; median {:.2f}'.format(
            ' '.join('{:.2f}'.format(r) for r in ratios), ratios[len(ratios) // 2]))
        moved = args.repeat * os.path.getsize(source) / 1e9
        per_gb = {name: (user / moved, system / moved) for name, (user, system) in cpu.items()}
        total = sum(user + system for user, system in per_gb.values())
        print('CPU s/GB during the proxy GETs: {}; total {:.2f}'.format(', '.join(
            '{} {:.2f} ({:.2f} user + {:.2f} sys)'.format(name, user + system, user, system)
            for name, (user, system) in per_gb.items()), total))
        cores = os.cpu_count()
        bound = min(cores / total * 1e3, best['sha1 one core'])
        print('bound here: min({} cores / {:.2f} s/GB, sha1 one core) = {:.0f} MB/s = {:.2f} x '
              'sha1 one core; best proxy GET / bound {:.2f}'.format(
                  cores, total, bound, bound / best['sha1 one core'],
                  best['proxy GET'] / bound))
    finally:
        for proc in procs:
            os.killpg(proc.pid, 15)
            proc.wait(15)
        shutil.rmtree(tmpdir, ignore_errors=True)


if __name__ == '__main__':
    main()

#!/usr/bin/env python3
"""Cartd with many small files (issue 13, target 5): a cart of 10,000 files should reach
``ready`` in at most 12 × the time of a cart of 1,000, and its HEAD (the status the
downloader polls) should answer in under 50 ms while it stages.

    python benchmarks/cartd_scale.py [--broker pyamqp://guest:guest@127.0.0.1:5672//]
                                     [--small 1000] [--large 10000] [--file-kb 4]

The archive interface, cartd and one Celery worker with default settings (the same
start-up as ``benchmarks/cartd.py``) run in a temporary directory on free ports, on the
embedded filesystem broker and on each ``--broker`` given. ``--large`` files of
``--file-kb`` KiB are stored in the archive first; a cart of the first ``--small`` of them
and a cart of all of them are POSTed in turn, and while each stages a client HEADs it every
50 ms, timing every HEAD. The worker's CPU time (all its processes, user + system) per cart
is shown beside the wall time: on a shared machine it varies far less from run to run.
"""
import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
import uuid

import requests

from benchlib import free_port
from cartd import ROOT, Cartd, Proc, sha256_file


def store(archive_root, count, size):
    """``count`` files of ``size`` bytes in the archive's directory; [(id, size, sha256)]."""
    files = []
    for number in range(count):
        fid = 'f{:06d}'.format(number)
        path = os.path.join(archive_root, fid)
        with open(path, 'wb') as handle:
            handle.write(number.to_bytes(8, 'big') * (size // 8))
        files.append((fid, size, sha256_file(path)))
    return files


def group_cpu(pgid):
    """CPU seconds (user + system) used so far by the live processes of group ``pgid``."""
    ticks = 0
    for name in os.listdir('/proc'):
        if not name.isdigit():
            continue
        try:
            with open('/proc/{}/stat'.format(name)) as handle:
                fields = handle.read().rsplit(')', 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid:   # pgrp; utime and stime are fields 14 and 15 of stat
            ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf('SC_CLK_TCK')


def staged(cartd, files):
    """POST a cart of ``files``; (seconds to ready, [HEAD milliseconds while staging],
    worker CPU seconds)."""
    cpu_before = group_cpu(cartd.worker.proc.pid)
    uid = uuid.uuid4().hex
    body = {'fileids': [{'id': fid, 'path': 'd{}/{}'.format(n % 100, fid),
                         'hashtype': 'sha256', 'hashsum': digest}
                        for n, (fid, _size, digest) in enumerate(files)]}
    session = requests.Session()
    heads = []
    started = time.perf_counter()
    session.post('{}/{}'.format(cartd.url, uid), data=json.dumps(body),
                 headers={'Content-Type': 'application/json'}, timeout=600).raise_for_status()
    while True:
        begin = time.perf_counter()
        status = session.head('{}/{}'.format(cartd.url, uid),
                              timeout=60).headers['X-Pacifica-Status']
        now = time.perf_counter()
        if status in ('ready', 'error'):
            break
        heads.append((now - begin) * 1000)
        time.sleep(0.05)
    if status != 'ready':
        raise SystemExit('cart ended in error')
    return now - started, heads, group_cpu(cartd.worker.proc.pid) - cpu_before


def describe(heads):
    """median / p95 / max of the HEAD times."""
    if not heads:
        return 'none (ready before the first poll)'
    heads = sorted(heads)
    return '{:.1f} / {:.1f} / {:.1f} ms ({} HEADs)'.format(
        statistics.median(heads), heads[int(len(heads) * 0.95)], heads[-1], len(heads))


def main(argv=None):
    """Run and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--broker', action='append', default=[])
    parser.add_argument('--db', default='sqlite', help='sqlite or a PostgreSQL server URL')
    parser.add_argument('--small', type=int, default=1000)
    parser.add_argument('--large', type=int, default=10000)
    parser.add_argument('--file-kb', type=int, default=4)
    args = parser.parse_args(argv)
    work = tempfile.mkdtemp(prefix='cartd-scale-')
    archive_root = os.path.join(work, 'archive')
    os.makedirs(archive_root)
    lines = ['| broker | cart | POST→ready | worker CPU | HEAD while staging, median / p95 / max |',
             '| --- | --- | --- | --- | --- |']
    procs = []
    try:
        files = store(archive_root, args.large, args.file_kb * 1024)
        port = free_port()
        archive_url = 'http://127.0.0.1:{}'.format(port)
        env = dict(os.environ, HOME=work, ARCHIVEINTERFACE_CONFIG=os.path.join(work, 'none'),
                   ARCHIVEINTERFACE_CPCONFIG=os.path.join(work, 'none'),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
        procs.append(Proc([sys.executable, '-m', 'pacifica.archiveinterface', '-a', '127.0.0.1',
                           '-p', str(port), '--prefix', archive_root], env, work, 'archive',
                          ready_url=archive_url + '/'))
        for broker in ['filesystem'] + args.broker:
            cartd = Cartd(work, archive_url, args.db, broker)
            try:
                staged(cartd, files[:10])       # warm up the worker
                small_time, small_heads, small_cpu = staged(cartd, files[:args.small])
                large_time, large_heads, large_cpu = staged(cartd, files)
            finally:
                cartd.stop()
            name = broker.split('://')[0]
            lines.append('| {} | {:,} × {} KiB | {:.2f} s | {:.2f} s | {} |'.format(
                name, args.small, args.file_kb, small_time, small_cpu, describe(small_heads)))
            lines.append('| {} | {:,} × {} KiB | {:.2f} s | {:.2f} s | {} |'.format(
                name, args.large, args.file_kb, large_time, large_cpu, describe(large_heads)))
            lines.append('| {} | **ratio** | **{:.2f} ×** (target ≤ {:.0f} ×) | {:.2f} × | |'.format(
                name, large_time / small_time, 1.2 * args.large / args.small,
                large_cpu / small_cpu))
            print('\n'.join(lines[-3:]), flush=True)
    finally:
        for proc in procs:
            proc.stop()
        shutil.rmtree(work, ignore_errors=True)
    print('\n'.join(lines))
    return 0


if __name__ == '__main__':
    sys.exit(main())

#!/usr/bin/env python3
"""Cartd fault benchmark: what a worker killed with SIGKILL mid-cart costs, per broker.

For each broker (the embedded filesystem one, plus ``--broker`` URLs: RabbitMQ, Redis) and
each way of coming back, on a fresh cartd (SQLite) with one Celery worker at its default
settings (prefork, one process per core):

1. POST a cart of ``--files`` files (1 MiB each by default) stored in a real archive
   interface, and poll HEAD until ``--kill-at`` of them are staged;
2. SIGKILL the worker's whole process group (main process and pool) mid-staging;
3. start a worker again, either under the **same** node name (a restart by systemd or
   Docker: it takes over its earlier run's claims at once) or under **another** name (a
   different machine: it waits for the dead worker's claims to lapse, ``claim_timeout``);
4. time from that worker being ready to the cart being ``ready``, and check the cart: every
   file present with the right bytes, bundled exactly once.

    python benchmarks/cartd_fault.py [--broker pyamqp://guest:guest@127.0.0.1:5672//]
                                     [--broker redis://127.0.0.1:6379/0]
                                     [--files 200] [--file-mb 1] [--kill-at 40]
                                     [--results benchmarks/RESULTS.md]

Everything runs in a temporary directory on free ports and is stopped at the end.
"""
import argparse
import hashlib
import io
import json
import os
import re
import shutil
import signal
import sys
import tarfile
import tempfile
import time
import uuid
from urllib.parse import urlsplit

import requests

from benchlib import free_port
from cartd import MB, Cartd, Proc, sha256_file, write_random

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)


def post_cart(cartd, files):
    """POST a cart of ``files`` (id, size, sha256); returns its uid and the paths."""
    uid = uuid.uuid4().hex
    body = {'bundle': False, 'fileids': [
        {'id': fid, 'path': 'd{}/{}'.format(n % 10, fid), 'hashtype': 'sha256',
         'hashsum': digest} for n, (fid, _size, digest) in enumerate(files)]}
    response = requests.post('{}/{}'.format(cartd.url, uid), data=json.dumps(body),
                             headers={'Content-Type': 'application/json'})
    response.raise_for_status()
    return uid


def head(cartd, uid):
    """``(status, files staged)`` from HEAD."""
    headers = requests.head('{}/{}'.format(cartd.url, uid)).headers
    return headers['X-Pacifica-Status'], int(headers['X-Pacifica-Progress'].split('/')[0])


def kill_group(proc):
    """SIGKILL a worker and its pool at once."""
    os.killpg(proc.proc.pid, signal.SIGKILL)
    proc.proc.wait()


def check_download(cartd, uid, files):
    """Every file in the tar, with its bytes (compared by sha256)."""
    data = requests.get('{}/{}?filename=data'.format(cartd.url, uid)).content
    found = {}
    with tarfile.open(fileobj=io.BytesIO(data), mode='r|') as tar:
        for member in tar:
            if member.isfile():
                found[os.path.basename(member.name)] = hashlib.sha256(
                    tar.extractfile(member).read()).hexdigest()
    return found == {fid: digest for fid, _size, digest in files}


def one_run(work, archive_url, broker, files, kill_at, same_name):
    """One kill and recovery; returns a dict of what was measured."""
    cartd = Cartd(work, archive_url, 'sqlite', broker)
    try:
        uid = post_cart(cartd, files)
        status, staged = head(cartd, uid)
        while staged < kill_at and status not in ('ready', 'error'):
            time.sleep(0.005)
            status, staged = head(cartd, uid)
        kill_group(cartd.worker)
        killed_at = time.monotonic()
        status, staged = head(cartd, uid)
        if status != 'staging':
            raise SystemExit('the cart was already {} when the worker died; lower --kill-at'
                             .format(status))
        name = cartd.worker_name if same_name else 'other-{}@%h'.format(uuid.uuid4().hex[:6])
        cartd.worker = cartd.start_worker(name, 'worker-restarted')
        back = time.monotonic()
        while True:
            status, done = head(cartd, uid)
            if status in ('ready', 'error'):
                break
            if time.monotonic() - back > 600:
                raise SystemExit('cart still {} 600 s after the restart'.format(status))
            time.sleep(0.02)
        ready = time.monotonic() - back
        logs = ''.join(open(os.path.join(cartd.work, name + '.log'), encoding='utf-8',
                            errors='replace').read()
                       for name in ('worker', 'worker-restarted'))
        return {'status': status, 'staged_at_kill': staged, 'restart': back - killed_at,
                'ready_after_restart': ready, 'complete': status == 'ready' and
                check_download(cartd, uid, files),
                'bundled': len(re.findall(r'cart \d+ bundled and ready', logs)),
                'files': done}
    finally:
        cartd.stop()


def main(argv=None):
    """Run the fault benchmark and print (and optionally record) the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--broker', action='append', default=[],
                        help='a broker URL to measure besides the filesystem broker')
    parser.add_argument('--files', type=int, default=200)
    parser.add_argument('--file-mb', type=int, default=1)
    parser.add_argument('--kill-at', type=int, default=40,
                        help='files staged when the worker is killed')
    parser.add_argument('--runs', type=int, default=1, help='runs per broker and restart kind')
    parser.add_argument('--results', default=None, help='append a Markdown section here')
    args = parser.parse_args(argv)

    work = tempfile.mkdtemp(prefix='cartd-fault-')
    archive_root = os.path.join(work, 'archive')
    os.makedirs(archive_root)
    lines = []
    archive = None
    try:
        files = []
        for number in range(args.files):
            fid = 'f{:04d}'.format(number)
            path = os.path.join(archive_root, fid)
            write_random(path, args.file_mb * MB)
            files.append((fid, args.file_mb * MB, sha256_file(path)))
        port = free_port()
        archive_url = 'http://127.0.0.1:{}'.format(port)
        env = dict(os.environ, HOME=work, ARCHIVEINTERFACE_CONFIG=os.path.join(work, 'none'),
                   ARCHIVEINTERFACE_CPCONFIG=os.path.join(work, 'none'),
                   PYTHONPATH=ROOT + os.pathsep + os.environ.get('PYTHONPATH', ''))
        archive = Proc([sys.executable, '-m', 'pacifica.archiveinterface', '-a', '127.0.0.1',
                        '-p', str(port), '--prefix', archive_root], env, work, 'archive',
                       ready_url=archive_url + '/')
        for broker in ['filesystem'] + args.broker:
            name = 'filesystem' if broker == 'filesystem' else urlsplit(broker).scheme
            for same_name in (True, False):
                for _ in range(args.runs):
                    got = one_run(work, archive_url, broker, files, args.kill_at, same_name)
                    lines.append(
                        '| {} | {} | {} | {:.1f} s | **{:.1f} s** | {} | {} |'.format(
                            name, 'same node name' if same_name else 'another node name',
                            got['staged_at_kill'], got['restart'],
                            got['ready_after_restart'],
                            'yes' if got['complete'] else 'NO ({})'.format(got['status']),
                            got['bundled']))
                    print(lines[-1], flush=True)
    finally:
        if archive:
            archive.stop()
        shutil.rmtree(work, ignore_errors=True)

    header = ['', '## cartd worker killed mid-cart ({}, sqlite, {} CPUs, {} x {} MiB)'.format(
        time.strftime('%Y-%m-%d %H:%M'), os.cpu_count(), args.files, args.file_mb), '',
        '| broker | worker back as | files staged at the kill | kill to worker ready | '
        'worker ready to cart ready | every file, right bytes | bundled |',
        '| --- | --- | --- | --- | --- | --- | --- |']
    text = '\n'.join(header + lines) + '\n'
    print(text)
    if args.results:
        with open(args.results, 'a', encoding='utf-8') as handle:
            handle.write(text)
    return 0


if __name__ == '__main__':
    sys.exit(main())

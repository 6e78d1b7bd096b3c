"""How long ``pacifica-suite`` takes to start and to stop, and how fast ``/api/ready`` answers
while the archive hangs.

Each round starts a suite in a fresh state directory (on ports moved by ``--port-offset``),
times until the banner, then (with ``--hang``) SIGSTOPs the archive interface and times
``GET /api/ready`` on cartd and the proxy, then sends the stop signal and times until the
suite and every process it started are gone and the ports are free.

    python benchmarks/suite_stop.py --rounds 5 --signal INT
    python benchmarks/suite_stop.py --rounds 3 --signal TERM --hang
"""
import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from urllib.request import urlopen
from urllib.error import HTTPError

import benchlib

PORTS = (8051, 8080, 8081, 8121, 8180)


def in_directory(directory):
    """Live PIDs whose working directory is ``directory``."""
    found = []
    for pid in filter(str.isdigit, os.listdir('/proc')):
        try:
            if os.readlink('/proc/{}/cwd'.format(pid)) == directory:
                with open('/proc/{}/stat'.format(pid), encoding='ascii', errors='replace') as fh:
                    if fh.read().rsplit(')', 1)[1].split()[0] != 'Z':
                        found.append(int(pid))
        except OSError:
            continue
    return found


def ports_free(offset):
    """Whether every suite port (moved by ``offset``) can be bound."""
    for port in PORTS:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(('127.0.0.1', port + offset))
            except OSError:
                return False
    return True


def ready_seconds(url):
    """Seconds ``GET url/api/ready`` takes, and its status."""
    started = time.monotonic()
    try:
        with urlopen(url + '/api/ready', timeout=10) as resp:
            status = resp.status
    except HTTPError as exc:
        status = exc.code
    return time.monotonic() - started, status


def one_round(offset, signum, hang):
    """(start seconds, stop seconds, {service: ready seconds}) of one suite."""
    home = tempfile.mkdtemp(prefix='suite-bench-')
    env = dict(os.environ, PYTHONPATH=benchlib.ROOT)
    started = time.monotonic()
    proc = subprocess.Popen(  # pylint: disable=consider-using-with
        [sys.executable, '-m', 'pacifica.suite', '--home', home, '--port-offset', str(offset)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:
        if 'Ctrl-C stops every service' in line:
            break
    else:
        raise SystemExit('the suite did not start')
    start = time.monotonic() - started
    readies = {}
    if hang:
        archive = next(pid for pid in in_directory(home) if b'pacifica.archiveinterface' in
                       open('/proc/{}/cmdline'.format(pid), 'rb').read())
        os.kill(archive, signal.SIGSTOP)
        for name, port in (('cartd', 8081), ('proxy', 8180)):
            readies[name] = ready_seconds('http://127.0.0.1:{}'.format(port + offset))
        os.kill(archive, signal.SIGCONT)
    stopping = time.monotonic()
    proc.send_signal(signum)
    proc.wait(30)
    while in_directory(home) or not ports_free(offset):
        time.sleep(0.01)
    return start, time.monotonic() - stopping, readies


def main():
    """Run the rounds and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--rounds', type=int, default=5)
    parser.add_argument('--signal', default='INT', choices=['INT', 'TERM', 'HUP', 'KILL'])
    parser.add_argument('--hang', action='store_true',
                        help='also time /api/ready while the archive is stopped')
    parser.add_argument('--port-offset', type=int, default=11000)
    args = parser.parse_args()
    signum = getattr(signal, 'SIG' + args.signal)
    starts, stops = [], []
    for number in range(args.rounds):
        start, stop, readies = one_round(args.port_offset, signum, args.hang)
        starts.append(start)
        stops.append(stop)
        extra = ''.join('  ready {} {:.2f} s ({})'.format(name, seconds, status)
                        for name, (seconds, status) in readies.items())
        print('round {}: start {:.2f} s, stop (SIG{}) {:.2f} s{}'.format(
            number + 1, start, args.signal, stop, extra), flush=True)
    print('start: median {:.2f} s, max {:.2f} s; stop: median {:.2f} s, max {:.2f} s'.format(
        statistics.median(starts), max(starts), statistics.median(stops), max(stops)))


if __name__ == '__main__':
    main()

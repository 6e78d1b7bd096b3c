#!/usr/bin/env python3
"""Slow clients against every service: a normal client's latency while N sockets trickle
their headers (one header line every 0.5 s, never ending them), each service started as its
CLI starts it (``python -m pacifica.<service>``, default ``[server]`` settings, SQLite).

    python benchmarks/slow_clients.py [--slow 0 50 200] [--requests 20]

Prints, per service and number of slow sockets, the median and the worst time of
``--requests`` fresh-connection GETs (5 s counts as a failure).
"""
import argparse
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                'tests'))

from common.fleet import NAMES, start_fleet, stop_fleet  # noqa: E402
from common.slowloris import Trickle, timed_gets  # noqa: E402
from common.test_slow_clients import PAGES  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--slow', type=int, nargs='+', default=[0, 50, 200])
    parser.add_argument('--requests', type=int, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_fleet(Path(tmp))
        try:
            print('| service | slow sockets | median | worst | failed |')
            print('| --- | --- | --- | --- | --- |')
            for name in NAMES:
                server = servers[name]
                for count in args.slow:
                    with Trickle(server.port, count=count, every=0.5):
                        times = timed_gets(server.url + PAGES[name], args.requests, pause=0.05)
                    print('| {} | {} | {:.1f} ms | {:.1f} ms | {} |'.format(
                        name, count, statistics.median(times) * 1000, max(times) * 1000,
                        sum(1 for t in times if t >= 5.0)), flush=True)
        finally:
            stop_fleet(servers)


if __name__ == '__main__':
    main()

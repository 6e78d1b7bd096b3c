#!/usr/bin/env python3
"""Metadata ``/ingest`` of 10,000 files against 1,000 (issue 13, target 5: the cost grows no
faster than the work, ≤ 11 ×).

    python benchmarks/metadata_ingest_scale.py --db-url sqliteext:////tmp/ingest-scale.sqlite3
    python benchmarks/metadata_ingest_scale.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

Starts a metadata server (notifications off) on an empty database (``--db-url``, or a new
database on the ``--postgres`` server, dropped at the end) and PUTs ingest documents shaped
like pacifica-ingest's (3 transaction fields, 20 key/values, N files) alternating between
N = ``--small`` and N = ``--large``, ``--repeat`` times each, each into a new transaction on
the same growing tables. Prints the median time of each, per file, and the ratio.
"""
import argparse
import statistics
import sys

import requests

from benchlib import database_options, run_on_metadata
from metadata_queries import _request, document, seed


def run(args, url):
    """The alternating ingests; returns Markdown table lines."""
    session = requests.Session()
    seed(session, url)
    times = {args.small: [], args.large: []}
    tid, first_file = 10 ** 6, 10 ** 7
    for _ in range(args.repeat):
        for files in (args.small, args.large):
            elapsed, resp = _request(session, 'PUT', url + '/ingest',
                                     document(tid, first_file, files, 20))
            assert resp.text == '{"status": "success"}', resp.text
            times[files].append(elapsed)
            tid += 1
            first_file += files
    small, large = (statistics.median(times[n]) for n in (args.small, args.large))
    lines = ['| ingest | median of {} | per file | runs |'.format(args.repeat),
             '| --- | --- | --- | --- |']
    for files, median in ((args.small, small), (args.large, large)):
        lines.append('| {:,} files + 20 key/values | {:.3f} s | {:.1f} µs | {} |'.format(
            files, median, median / files * 1e6,
            ' '.join('{:.3f}'.format(t) for t in times[files])))
    lines.append('| **{:,} / {:,}** | **{:.2f} ×** (target ≤ {:.0f} ×) | | |'.format(
        args.large, args.small, large / small, 1.1 * args.large / args.small))
    return lines


def main(argv=None):
    """Parse the arguments, run, print (and append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    database_options(parser)
    parser.add_argument('--small', type=int, default=1000)
    parser.add_argument('--large', type=int, default=10000)
    parser.add_argument('--repeat', type=int, default=5)
    parser.add_argument('--results', help='append the Markdown table to this file')
    args = parser.parse_args(argv)
    return run_on_metadata(args, 'bench_ingest', lambda url, db_url: run(args, url))


if __name__ == '__main__':
    sys.exit(main())

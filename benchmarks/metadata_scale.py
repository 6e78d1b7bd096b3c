#!/usr/bin/env python3
"""Metadata reads on 10,000 and on 1,000,000 files (issue 13, target 5): the latency of
``GET /files?_id=N`` and ``GET /files?hashsum=H`` should stay within 1.5 × on the larger
table, which needs an index behind both.

    python benchmarks/metadata_scale.py --db-url sqliteext:////tmp/md-scale.sqlite3
    python benchmarks/metadata_scale.py --postgres postgresql://postgres@127.0.0.1:5432/postgres

Starts a metadata server (notifications off) on an empty database (``--db-url``, or a new
database on the ``--postgres`` server, dropped at the end). Rows are loaded straight into
the database with the service's own models (multi-row INSERTs: the point is the reads), one
transaction holding every file, each file with its own hashsum. At each size the script
ANALYZEs the tables, prints the query plan of the SELECT the two filters make (the same
peewee query shape as the service's, EXPLAIN QUERY PLAN on SQLite, EXPLAIN on PostgreSQL),
then times ``--requests`` GETs of each kind with one kept-alive client, ids and hashes
drawn at random from the loaded rows; every answer is checked to hold exactly that file.
"""
import argparse
import datetime
import hashlib
import os
import random
import statistics
import sys
import time

import requests

from benchlib import database_options, run_on_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BATCH = 2000


def hashsum(number):
    """The sha1 text of file ``number`` (unique per file)."""
    return hashlib.sha1(str(number).encode()).hexdigest()


class Loader:
    """The service's models bound to the server's database, in this process."""

    def __init__(self, db_url):
        sys.path.insert(0, ROOT)
        # pylint: disable=import-outside-toplevel
        from pacifica.common.database import open_database
        from pacifica.metadata.orm import DB
        from pacifica.metadata.orm.transactions import Files, Transactions
        self.database = open_database(db_url, max_connections=2)
        DB.initialize(self.database)
        self.files, self.transactions = Files, Transactions
        self.fields = [Files.id, Files.name, Files.subdir, Files.ctime, Files.mtime,
                       Files.hashsum, Files.hashtype, Files.size, Files.transaction,
                       Files.mimetype, Files.created, Files.updated]
        self.count = 0

    def grow(self, total):
        """Insert files until the table holds ``total``; returns the seconds it took."""
        begin = time.perf_counter()
        now = datetime.datetime(2020, 1, 2, 3, 4, 5)
        with self.database.connection_context():
            if self.count == 0:
                self.transactions.insert(id=1, created=now, updated=now).execute()
            while self.count < total:
                upto = min(total, self.count + BATCH)
                rows = [(n, 'file{}.dat'.format(n), 'run/{}'.format(n % 97), now, now,
                         hashsum(n), 'sha1', n, 1, 'application/octet-stream', now, now)
                        for n in range(self.count + 1, upto + 1)]
                with self.database.atomic():
                    self.files.insert_many(rows, fields=self.fields).execute()
                self.count = upto
            self.database.execute_sql('ANALYZE')
        return time.perf_counter() - begin

    def plans(self):
        """The plans of the two filters' SELECTs, one text line per plan row."""
        files = self.files
        explain = ('EXPLAIN QUERY PLAN ' if 'sqlite' in type(self.database).__name__.lower()
                   else 'EXPLAIN ')
        found = {}
        with self.database.connection_context():
            for name, where in (('_id', files.id == 5), ('hashsum', files.hashsum == hashsum(5))):
                sql, params = files.select().where(where & files.deleted.is_null()).sql()
                cursor = self.database.execute_sql(explain + sql, params)
                found[name] = [' '.join(str(col) for col in row) for row in cursor.fetchall()]
        return found


def timed(session, url, requests_, make_query, check):
    """Median and 95th-percentile milliseconds of ``requests_`` GETs."""
    times = []
    for _ in range(requests_):
        number, query = make_query()
        begin = time.perf_counter()
        resp = session.get(url + '/files?' + query, timeout=60)
        times.append((time.perf_counter() - begin) * 1000)
        if resp.status_code != 200:
            raise SystemExit('GET /files?{}: {} {}'.format(query, resp.status_code, resp.text[:200]))
        check(number, resp.json())
    times.sort()
    return statistics.median(times), times[int(len(times) * 0.95)]


def run(args, url, loader):
    """Load, explain and time at each size; returns Markdown lines."""
    session = requests.Session()
    rng = random.Random(13)
    lines = ['| rows in files | load time | GET /files?_id=N median / p95 ms | '
             'GET /files?hashsum=H median / p95 ms |', '| --- | --- | --- | --- |']
    results, plans = {}, {}

    def check(number, body):
        assert len(body) == 1 and body[0]['_id'] == number, body

    for size in args.sizes:
        load = loader.grow(size)
        plans[size] = loader.plans()
        session.get(url + '/files?_id=1', timeout=60)    # warm the connection and caches
        by_id = timed(session, url, args.requests, lambda: (
            lambda n: (n, '_id={}'.format(n)))(rng.randint(1, size)), check)
        by_hash = timed(session, url, args.requests, lambda: (
            lambda n: (n, 'hashsum={}'.format(hashsum(n))))(rng.randint(1, size)), check)
        results[size] = (by_id, by_hash)
        lines.append('| {:,} | {:.1f} s | {:.2f} / {:.2f} | {:.2f} / {:.2f} |'.format(
            size, load, by_id[0], by_id[1], by_hash[0], by_hash[1]))
    small, large = args.sizes[0], args.sizes[-1]
    lines.append('| **{:,} / {:,}** | | **{:.2f} ×** | **{:.2f} ×** |'.format(
        large, small, results[large][0][0] / results[small][0][0],
        results[large][1][0] / results[small][1][0]))
    lines.append('')
    for size in args.sizes:
        for name, plan in plans[size].items():
            lines.append('Plan of the `{}` filter at {:,} rows: `{}`'.format(
                name, size, ' / '.join(plan)))
            lines.append('')
    return lines


def main(argv=None):
    """Parse the arguments, run, print (and append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    database_options(parser)
    parser.add_argument('--sizes', type=lambda text: [int(n) for n in text.split(',')],
                        default=[10000, 1000000], help='table sizes, ascending')
    parser.add_argument('--requests', type=int, default=500, help='GETs of each kind per size')
    parser.add_argument('--results', help='append the Markdown table to this file')
    args = parser.parse_args(argv)
    return run_on_metadata(args, 'bench_scale',
                           lambda url, db_url: run(args, url, Loader(db_url)))


if __name__ == '__main__':
    sys.exit(main())

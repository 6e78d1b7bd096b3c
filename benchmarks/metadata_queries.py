"""Metadata query-endpoint benchmark (issue 4, item 6).

    python benchmarks/metadata_queries.py --db-url sqliteext:////tmp/mq-bench.sqlite3
    python benchmarks/metadata_queries.py --db-url postgresql://postgres@127.0.0.1/mq_bench
    python benchmarks/metadata_queries.py --url http://127.0.0.1:8121 --db-url URL

With only ``--db-url`` a server is started on a free port (after ``dbsync``, notifications
off) on that database, which should be empty, and stopped at the end. Measures, each with
the number of SQL statements the same code issues (run in this process on the same
database, every statement counted):

a) PUT /ingest of one transaction with ``--files`` files (1,000) and 20 key/values;
b) GET /transactioninfo/by_id of that transaction;
c) GET /transactioninfo/search over ``--transactions`` transactions (1,000), one page
   holding all of them (details);
d) POST /summaryinfo/by_date over those transactions' ``--files-per-transaction`` x
   ``--transactions`` files (10,000).

Results are printed as a Markdown table; ``--results FILE`` appends them to FILE.
"""
import argparse
import json
import os
import statistics
import sys
import time
import zoneinfo

import requests

from benchlib import report, start_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADERS = {'Content-Type': 'application/json'}
SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'
USER, PROJECT, INSTRUMENT = 900001, 'bench-project', 900001


def document(tid, first_file, files, pairs):
    """An ingest document shaped like pacifica-ingest's (Transactions._id last)."""
    doc = [{'destinationTable': 'Transactions.submitter', 'value': USER},
           {'destinationTable': 'Transactions.project', 'value': PROJECT},
           {'destinationTable': 'Transactions.instrument', 'value': INSTRUMENT}]
    doc += [{'destinationTable': 'TransactionKeyValue', 'key': 'key{}'.format(n),
             'value': 'value{}'.format(n)} for n in range(pairs)]
    doc += [{'destinationTable': 'Files', '_id': first_file + n,
             'name': 'file{}.dat'.format(n), 'subdir': 'run/{}'.format(n % 17),
             'ctime': '2020-01-02T03:04:05', 'mtime': 1577934245 + n, 'size': 1000 + n,
             'mimetype': 'application/octet-stream', 'hashtype': 'sha1', 'hashsum': SHA1}
            for n in range(files)]
    doc.append({'destinationTable': 'Transactions._id', 'value': tid})
    return doc


def _request(session, method, url, body=None):
    begin = time.perf_counter()
    resp = session.request(method, url, data=None if body is None else json.dumps(body),
                           headers=HEADERS, timeout=600)
    elapsed = time.perf_counter() - begin
    if resp.status_code != 200:
        raise SystemExit('{} {} failed: {} {}'.format(method, url, resp.status_code,
                                                      resp.text[:300]))
    return elapsed, resp


class Statements:
    """Runs query functions in this process on the server's database, counting statements."""

    def __init__(self, db_url):
        sys.path.insert(0, ROOT)
        # pylint: disable=import-outside-toplevel
        from pacifica.common.database import open_database
        from pacifica.metadata.orm import DB
        self.database = open_database(db_url, max_connections=2)
        DB.initialize(self.database)
        self.count = 0
        original = self.database.execute_sql

        def counting(sql, params=None, *args, **kwargs):
            self.count += 1
            return original(sql, params, *args, **kwargs)
        self.database.execute_sql = counting

    def run(self, func, *args):
        """The number of statements ``func(*args)`` issued."""
        self.count = 0
        self.database.connect(reuse_if_open=True)
        try:
            func(*args)
        finally:
            self.database.close()
        return self.count


def seed(session, url):
    """The submitter, project and instrument every transaction uses."""
    for path, body in (('users', {'_id': USER, 'first_name': 'bench'}),
                       ('projects', {'_id': PROJECT, 'title': 'bench'}),
                       ('instruments', {'_id': INSTRUMENT, 'name': 'bench'})):
        _request(session, 'PUT', '{}/{}'.format(url, path), body)


def run(args, url):
    """The four measurements; returns Markdown table lines."""
    # pylint: disable=import-outside-toplevel
    sys.path.insert(0, ROOT)
    from pacifica.metadata.queries import ingest, reporting, transactions
    zone = zoneinfo.ZoneInfo('America/Los_Angeles')
    session = requests.Session()
    seed(session, url)
    counter = Statements(args.db_url)
    base = args.first_id
    lines = ['| measurement | time | SQL statements |', '| --- | --- | --- |']

    timings = []
    for run_number in range(args.repeat):
        tid = base + run_number
        elapsed, resp = _request(session, 'PUT', url + '/ingest', document(
            tid, base * 10 + run_number * args.files, args.files, 20))
        assert resp.text == '{"status": "success"}'
        timings.append(elapsed)
    statements = counter.run(ingest.ingest, document(
        base + args.repeat, base * 10 + args.repeat * args.files, args.files, 20))
    lines.append('| (a) PUT /ingest, {} files + 20 key/values | median {:.3f} s of {} | {} |'
                 .format(args.files, statistics.median(timings), args.repeat, statements))

    timings = [_request(session, 'GET', '{}/transactioninfo/by_id/{}'.format(url, base))[0]
               for _ in range(args.repeat)]
    statements = counter.run(transactions.by_id, str(base))
    lines.append('| (b) GET /transactioninfo/by_id ({} files) | median {:.3f} s | {} |'.format(
        args.files, statistics.median(timings), statements))

    first = base + 1000
    for number in range(args.transactions):
        _request(session, 'PUT', url + '/ingest', document(
            first + number, base * 20 + number * args.files_per_transaction,
            args.files_per_transaction, 2))
    query = 'project={}&start=2000-01-01&item_count={}&page=1'.format(
        PROJECT, args.transactions + args.repeat + 1)
    timings = []
    for _ in range(args.repeat):
        elapsed, resp = _request(session, 'GET', '{}/transactioninfo/search/details?{}'.format(
            url, query))
        timings.append(elapsed)
    returned = len(resp.json()['transactions'])
    params = dict(part.split('=') for part in query.split('&'))
    statements = counter.run(transactions.search, 'details', params)
    lines.append('| (c) GET /transactioninfo/search/details, {} transactions returned | '
                 'median {:.3f} s | {} |'.format(returned, statistics.median(timings),
                                                statements))

    path = '/summaryinfo/by_date/modified/instrument/2019-01-01/2021-01-01'
    timings = []
    for _ in range(args.repeat):
        elapsed, resp = _request(session, 'POST', url + path, [INSTRUMENT])
        timings.append(elapsed)
    files = resp.json()['summary_totals']['total_file_count']
    statements = counter.run(reporting.by_date, 'modified', 'instrument', '2019-01-01',
                             '2021-01-01', [INSTRUMENT], zone)
    lines.append('| (d) POST /summaryinfo/by_date over {} files | median {:.3f} s | {} |'.format(
        files, statistics.median(timings), statements))
    return lines


def main(argv=None):
    """Parse the arguments, run, print (and append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--url', help='a running metadata server (on --db-url)')
    parser.add_argument('--db-url', required=True,
                        help="the server's database (or an empty one to start a server on)")
    parser.add_argument('--files', type=int, default=1000, help='files in the (a) ingest')
    parser.add_argument('--transactions', type=int, default=1000)
    parser.add_argument('--files-per-transaction', type=int, default=10)
    parser.add_argument('--repeat', type=int, default=5, help='timed runs per measurement')
    parser.add_argument('--first-id', type=int, default=10 ** 6,
                        help='transaction ids start here (file ids at 10x and 20x)')
    parser.add_argument('--results', help='append the Markdown table to this file')
    args = parser.parse_args(argv)
    proc, url = (None, args.url) if args.url else start_metadata(args.db_url)
    try:
        lines = run(args, url)
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
    report(lines, args.results, args.db_url)
    return 0


if __name__ == '__main__':
    sys.exit(main())

"""Metadata query-endpoint benchmark (issue 4, item 6).

    python benchmarks/metadata_queries.py --db-url sqliteext:////tmp/mq-bench.sqlite3
    python benchmarks/metadata_queries.py --db-url postgresql://postgres@127.0.0.1/mq_bench
    python benchmarks/metadata_queries.py --url http://127.0.0.1:8121 --db-url URL

With only ``--db-url`` a server is started on a free port (after ``dbsync``, notifications
off) on that database, which should be empty, and stopped at the end. Measures, each with
the number of SQL statements the same code issues (run in this process on the same
database, every statement counted):

a) PUT /ingest of one transaction with ``--files`` files (1,000) and 20 key/values, each
   run followed by the bare INSERTs of the rows it wrote (issue 13, target 3: ingest
   <= 2 x): the transaction, its transsip row, its key/value links and its files, with new
   ids, inserted by the database driver itself (SQLite ``executemany``, PostgreSQL
   ``execute_values``: one multi-row INSERT per table) in one transaction on the same
   database and committed; the rows are built before the clock starts and deleted after
   (as the ingest's JSON document is encoded before its clock starts);
b) GET /transactioninfo/by_id of that transaction;
c) GET /transactioninfo/search over ``--transactions`` transactions (1,000), one page
   holding all of them (details);
d) POST /summaryinfo/by_date over those transactions' ``--files-per-transaction`` x
   ``--transactions`` files (10,000).

``--ingest-only`` stops after a). Results are printed as a Markdown table; ``--results
FILE`` appends them to FILE.
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
    """``method url`` with ``body`` (encoded first, before the clock starts: the time is the
    server's answer, as the bare INSERTs' is the database's); (seconds, response)."""
    data = None if body is None else json.dumps(body)
    begin = time.perf_counter()
    resp = session.request(method, url, data=data, headers=HEADERS, timeout=600)
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


class BareInserts:
    """The rows one ingest writes, inserted by the driver without the service."""

    def __init__(self, database):
        # pylint: disable=import-outside-toplevel
        from pacifica.common.database import family_of
        from pacifica.metadata.orm import (Files, Keys, TransactionKeyValue, Transactions,
                                           TransSIP, Values)
        self.database = database
        self.postgres = family_of(database) == 'postgresql'
        self.models = (Transactions, TransSIP, TransactionKeyValue, Files)
        self.vocabulary = (Keys, Values)

    def _ids(self, model, column, texts):
        sql = 'SELECT "{}", "id" FROM "{}" WHERE "deleted" IS NULL'.format(
            column, model._meta.table_name)  # pylint: disable=protected-access
        found = dict(self.database.execute_sql(sql).fetchall())
        return [found[text] for text in texts]

    def rows(self, doc):
        """Per model, the tuples (all columns, in table order) the ingest of ``doc`` (a
        parsed :class:`ingest.Document`) stores; its keys and values must exist."""
        # pylint: disable=import-outside-toplevel
        from pacifica.metadata.orm import utc_now
        now = utc_now()
        tid = doc.transaction_id
        keys = self._ids(self.vocabulary[0], 'key', [k for k, _ in doc.trans_kv])
        values = self._ids(self.vocabulary[1], 'value', [v for _, v in doc.trans_kv])
        common = {'created': now, 'updated': now, 'deleted': None}
        files = [dict(zip(doc.files, row)) for row in zip(*doc.files.values())]
        per_model = (
            [dict(common, id=tid, description=None, suspense_date=None)],
            [dict(common, id=tid, submitter=doc.submitter, instrument=doc.instrument,
                  project=doc.project)],
            [dict(common, transaction=tid, key=k, value=v) for k, v in zip(keys, values)],
            [dict(common, transaction=tid, encoding='UTF8', suspense_date=None, **row)
             for row in files])
        # pylint: disable=protected-access
        return [[tuple(row[f.name] for f in model._meta.sorted_fields) for row in rows]
                for model, rows in zip(self.models, per_model)]

    def run(self, doc):
        """Seconds to insert and commit the rows of ``doc``; they are deleted after."""
        # pylint: disable=import-outside-toplevel,protected-access
        tables = self.rows(doc)
        self.database.connect(reuse_if_open=True)
        try:
            begin = time.perf_counter()
            with self.database.atomic():
                cursor = self.database.cursor()
                for model, rows in zip(self.models, tables):
                    sql = 'INSERT INTO "{}" ({}) VALUES '.format(
                        model._meta.table_name, ', '.join(
                            '"{}"'.format(f.column_name) for f in model._meta.sorted_fields))
                    if self.postgres:
                        from psycopg2.extras import execute_values
                        execute_values(cursor, sql + '%s', rows, page_size=len(rows))
                    else:
                        cursor.executemany(sql + '({})'.format(', '.join(
                            '?' * len(model._meta.sorted_fields))), rows)
            elapsed = time.perf_counter() - begin
            with self.database.atomic():
                for model, column in zip(reversed(self.models),
                                         ('transaction_id', 'transaction_id', 'id_id', 'id')):
                    self.database.execute_sql('DELETE FROM "{}" WHERE "{}" = {}'.format(
                        model._meta.table_name, column, self.database.param),
                        (doc.transaction_id,))
        finally:
            self.database.close()
        return elapsed


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

    timings, bare = [], []
    inserts = BareInserts(counter.database)
    for run_number in range(args.repeat):
        tid = base + run_number
        elapsed, resp = _request(session, 'PUT', url + '/ingest', document(
            tid, base * 10 + run_number * args.files, args.files, 20))
        assert resp.text == '{"status": "success"}'
        timings.append(elapsed)
        # the same rows under new ids (deleted again): a transaction no other part uses
        bare.append(inserts.run(ingest.parse(document(
            base + 500 + run_number, base * 30 + run_number * args.files, args.files, 20))))
    statements = counter.run(ingest.ingest, document(
        base + args.repeat, base * 10 + args.repeat * args.files, args.files, 20))
    lines.append('| (a) PUT /ingest, {} files + 20 key/values | median {:.3f} s of {} | {} |'
                 .format(args.files, statistics.median(timings), args.repeat, statements))
    ratios = [put / raw for put, raw in zip(timings, bare)]
    lines.append('| (a) the same rows by the driver ({}), one transaction | median {:.3f} s;'
                 ' ingest / driver per run {}: **median {:.2f} x** (target <= 2) | |'.format(
                     'execute_values' if inserts.postgres else 'executemany',
                     statistics.median(bare), ' '.join('{:.2f}'.format(r) for r in ratios),
                     statistics.median(ratios)))

    if args.ingest_only:
        return lines
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
    parser.add_argument('--ingest-only', action='store_true', help='measure (a) only')
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

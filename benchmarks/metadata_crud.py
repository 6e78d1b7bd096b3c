"""Metadata CRUD benchmark (issue 3, item 9).

    python benchmarks/metadata_crud.py --url http://127.0.0.1:8121 [--db-url URL]
    python benchmarks/metadata_crud.py --db-url sqliteext:////tmp/bench.sqlite3
    python benchmarks/metadata_crud.py --db-url postgresql://postgres@127.0.0.1/bench

With only ``--db-url`` a server is started on a free port (after ``dbsync``, notifications
off) and stopped at the end; the database should be empty. With ``--url`` an already running
server is measured; give its ``--db-url`` too to count SQL statements. Measures:

a) PUT of ``--rows`` /files rows (their transactions first), in batches of 1 and of 1,000,
   and (with ``--db-url``) the same 1,000-row batches inserted by the database driver itself
   into a fresh table made from the same model (same columns, indexes and foreign key, one
   transaction per batch): PostgreSQL ``execute_values`` (one multi-row INSERT per batch) or
   SQLite ``executemany``; the ratio PUT / raw is printed. ``--rounds N`` alternates N
   PUT runs with N driver runs (fresh rows each time) and prints every round's ratio and
   the median, which says more on a shared machine than one run of each;
b) GET /files?_id=N, /files?hashsum=H and /users?_id=U (the default recursion, so with its
   reverse-relation lists) with ``--clients`` clients, against GET /;
c) GET of 100 /users rows with recursion_depth=1: latency, and the SQL statements issued.

``--put-only`` stops after a). Results are printed as a Markdown table; ``--results FILE``
appends them to FILE.
"""
import argparse
import json
import logging
import os
import random
import statistics
import sys
import threading
import time

import requests

from benchlib import report, start_metadata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HEADERS = {'Content-Type': 'application/json'}


def _put(session, url, path, body):
    resp = session.put('{}/{}'.format(url, path), data=json.dumps(body), headers=HEADERS,
                       timeout=300)
    if resp.status_code != 200:
        raise SystemExit('PUT /{} failed: {} {}'.format(path, resp.status_code, resp.text[:300]))


def file_row(number, transaction):
    """A realistic /files row."""
    return {'_id': number, 'name': 'file{}.dat'.format(number), 'subdir': 'run/{}'.format(
        number % 97), 'ctime': '2020-01-02T03:04:05', 'mtime': '2020-01-02T03:04:05',
        'hashsum': '{:040x}'.format(number * 7919), 'hashtype': 'sha1', 'size': number * 11,
        'transaction': transaction, 'mimetype': 'application/octet-stream'}


def bench_put(url, rows, batch, first_id):
    """PUT ``rows`` files in batches of ``batch``; returns rows/s (transactions not timed)."""
    session = requests.Session()
    per_transaction = 1000
    transactions = list(range(first_id, first_id + (rows + per_transaction - 1) //
                              per_transaction))
    _put(session, url, 'transactions', [{'_id': t, 'description': 'bench'}
                                        for t in transactions])
    started = time.perf_counter()
    for start in range(0, rows, batch):
        body = [file_row(first_id + n, transactions[n // per_transaction])
                for n in range(start, min(rows, start + batch))]
        _put(session, url, 'files', body if batch > 1 else body[0])
    return rows / (time.perf_counter() - started)


def bench_get(url, paths, clients, seconds):
    """``clients`` threads GET random ``paths`` for ``seconds``: (req/s, p50 ms, p95 ms)."""
    latencies, errors = [], []
    stop = time.perf_counter() + seconds

    def worker():
        session = requests.Session()
        local = []
        while time.perf_counter() < stop:
            path = random.choice(paths)
            begin = time.perf_counter()
            resp = session.get(url + path, timeout=60)
            local.append(time.perf_counter() - begin)
            if resp.status_code != 200:
                errors.append(resp.status_code)
        latencies.extend(local)

    threads = [threading.Thread(target=worker) for _ in range(clients)]
    begin = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - begin
    if errors:
        raise SystemExit('GET errors: {}'.format(sorted(set(errors))))
    latencies.sort()
    return (len(latencies) / elapsed, statistics.median(latencies) * 1000,
            latencies[int(len(latencies) * 0.95)] * 1000)


def bench_raw(db_url, rows, batch, first_id):
    """Insert the rows ``bench_put(url, rows, batch, first_id)`` PUT (same transactions)
    with the driver into ``bench_raw_files``, a fresh copy of the files table; rows/s."""
    sys.path.insert(0, ROOT)
    # pylint: disable=import-outside-toplevel,protected-access
    import datetime
    from pacifica.common.database import family_of, open_database
    from pacifica.metadata.orm import DB
    from pacifica.metadata.orm.transactions import Files
    database = open_database(db_url, max_connections=2)
    DB.initialize(database)
    database.connect()
    postgres = family_of(database) == 'postgresql'

    def renamed(node):
        sql = database.get_sql_context().sql(node).query()[0]
        return sql.replace('"files"', '"bench_raw_files"').replace('"files_', '"bench_raw_files_')

    try:
        database.execute_sql('DROP TABLE IF EXISTS "bench_raw_files"')
        database.execute_sql(renamed(Files._schema._create_table(safe=False)))
        for index in Files._schema._create_indexes(safe=False):
            database.execute_sql(renamed(index))
        fields = Files._meta.sorted_fields
        columns = ', '.join('"{}"'.format(f.column_name) for f in fields)
        per_transaction = 1000
        started = time.perf_counter()
        for start in range(0, rows, batch):
            now = datetime.datetime.utcnow()
            values = []
            for n in range(start, min(rows, start + batch)):
                row = file_row(first_id + n, first_id + n // per_transaction)
                row.update(id=row.pop('_id'), transaction_id=row.pop('transaction'),
                           created=now, updated=now, deleted=None, encoding='UTF8',
                           suspense_date=None)
                values.append(tuple(row[f.column_name] for f in fields))
            with database.atomic():
                cursor = database.cursor()
                if postgres:
                    from psycopg2.extras import execute_values
                    execute_values(cursor, 'INSERT INTO "bench_raw_files" ({}) VALUES %s'.format(
                        columns), values, page_size=len(values))
                else:
                    cursor.executemany('INSERT INTO "bench_raw_files" ({}) VALUES ({})'.format(
                        columns, ', '.join('?' * len(fields))), values)
        rate = rows / (time.perf_counter() - started)
        database.execute_sql('DROP TABLE "bench_raw_files"')
    finally:
        database.close()
    return rate


class _Counter(logging.Handler):
    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1


def count_statements(db_url):
    """SQL statements for GET /users?first_name=bench&recursion_depth=1 (the 100 benchmark
    users), run in-process on the same database with the same code the server runs."""
    sys.path.insert(0, ROOT)
    # pylint: disable=import-outside-toplevel
    from pacifica.common.database import family_of, open_database
    from pacifica.metadata.objects import BY_NAME
    from pacifica.metadata.orm import DB
    from pacifica.metadata.queries import filters, read
    database = open_database(db_url, max_connections=2)
    DB.initialize(database)
    database.connect()
    obj = BY_NAME['users']
    params = {'first_name': 'bench', 'recursion_depth': '1'}
    counter = _Counter()
    logger = logging.getLogger('peewee')
    logger.setLevel(logging.DEBUG)
    logger.addHandler(counter)
    try:
        rows = read.read(obj, filters.parse(obj, params, 'get', family_of(database)))
    finally:
        logger.removeHandler(counter)
        database.close()
    return counter.count, len(rows)


def bench_users(url, first_id):
    """PUT 100 users with group links; time GET of all 100 with recursion_depth=1."""
    session = requests.Session()
    ids = list(range(first_id, first_id + 100))
    _put(session, url, 'users', [{'_id': i, 'first_name': 'bench'} for i in ids])
    _put(session, url, 'groups', {'_id': first_id, 'name': 'bench'})
    _put(session, url, 'user_group', [{'user': i, 'group': first_id} for i in ids])
    timings = []
    for _ in range(20):
        begin = time.perf_counter()
        resp = session.get(url + '/users?first_name=bench&recursion_depth=1', timeout=60)
        timings.append((time.perf_counter() - begin) * 1000)
        assert resp.status_code == 200 and len(resp.json()) == 100, resp.text[:200]
    return statistics.median(timings)


def compare_raw(url, args, thousand):
    """The driver's runs of a): one after the PUT run already made, or ``--rounds``
    alternating pairs (PUT first, each on fresh ids); Markdown lines."""
    kind = 'multi-row INSERT' if 'postgres' in args.db_url else 'executemany'
    puts, raws = [thousand], []
    for number in range(args.rounds):
        first = args.first_id + 10 ** 5 + number * 10 ** 7
        if number:
            puts.append(bench_put(url, args.rows, 1000, first))
        raws.append(bench_raw(args.db_url, args.rows, 1000, first))
    ratios = [put / raw for put, raw in zip(puts, raws)]
    if args.rounds == 1:
        return ['| the same rows by the driver ({}), batches of 1,000 | {:.0f} rows/s;'
                ' PUT /files = {:.2f} x raw |'.format(kind, raws[0], ratios[0])]
    return ['| {} rounds: PUT /files, batches of 1,000 | {} rows/s |'.format(
                args.rounds, ' '.join('{:.0f}'.format(p) for p in puts)),
            '| the same rows by the driver ({}) | {} rows/s |'.format(
                kind, ' '.join('{:.0f}'.format(r) for r in raws)),
            '| PUT / driver per round | {}; **median {:.2f} x** |'.format(
                ' '.join('{:.2f}'.format(r) for r in ratios), statistics.median(ratios))]


def reads(url, args):
    """b) and c); Markdown lines."""
    lines = []
    ids = range(args.first_id + 10 ** 5, args.first_id + 10 ** 5 + args.rows)
    latency = bench_users(url, args.first_id + 2 * 10 ** 5)
    users = range(args.first_id + 2 * 10 ** 5, args.first_id + 2 * 10 ** 5 + 100)
    # GET / is measured right before each run: the machine is shared, so a ratio to an
    # adjacent baseline says more than one baseline taken minutes earlier
    for name, paths in (('/files?_id=N', ['/files?_id={}'.format(i) for i in ids]),
                        ('/files?hashsum=H', ['/files?hashsum={:040x}'.format(i * 7919)
                                              for i in ids]),
                        # the default recursion (1): with the reverse-relation lists
                        ('/users?_id=U', ['/users?_id={}'.format(i) for i in users])):
        root = bench_get(url, ['/'], args.clients, args.seconds)
        rate, p50, p95 = bench_get(url, paths, args.clients, args.seconds)
        lines.append('| GET {}, {} clients | {:.0f} req/s = {:.2f} x GET / ({:.0f} req/s); '
                     'p50 {:.1f} ms, p95 {:.1f} ms |'.format(
                         name, args.clients, rate, rate / root[0], root[0], p50, p95))
    statements = 'not counted (give --db-url)'
    if args.db_url:
        count, rows = count_statements(args.db_url)
        statements = '{} SQL statements for {} rows'.format(count, rows)
    lines.append('| GET 100 /users, recursion_depth=1 | median {:.1f} ms; {} |'.format(
        latency, statements))
    return lines


def main(argv=None):
    """Run the three measurements and print a Markdown table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--url', help='a running metadata server')
    parser.add_argument('--db-url', help="the server's database (or one to start a server on)")
    parser.add_argument('--rows', type=int, default=10000, help='files to PUT per batch size')
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--seconds', type=float, default=10, help='duration of each GET run')
    parser.add_argument('--first-id', type=int, default=10 ** 6,
                        help='ids used start here (use a fresh range on a reused database)')
    parser.add_argument('--rounds', type=int, default=1,
                        help='alternating PUT / driver runs of --rows rows (needs --db-url)')
    parser.add_argument('--put-only', action='store_true', help='measure a) only')
    parser.add_argument('--results', help='append the Markdown table to this file')
    args = parser.parse_args(argv)
    if not args.url and not args.db_url:
        parser.error('give --url, --db-url or both')
    if args.rounds > 1 and not args.db_url:
        parser.error('--rounds compares with the driver: give --db-url')
    proc = None
    url = args.url
    if not url:
        proc, url = start_metadata(args.db_url)
    try:
        lines = ['| measurement | result |', '| --- | --- |']
        one = bench_put(url, min(args.rows, 2000), 1, args.first_id)
        lines.append('| PUT /files, batches of 1 ({} rows) | {:.0f} rows/s |'.format(
            min(args.rows, 2000), one))
        thousand = bench_put(url, args.rows, 1000, args.first_id + 10 ** 5)
        lines.append('| PUT /files, batches of 1,000 ({} rows) | {:.0f} rows/s |'.format(
            args.rows, thousand))
        if args.db_url:
            lines.extend(compare_raw(url, args, thousand))
        if not args.put_only:
            lines.extend(reads(url, args))
    finally:
        if proc:
            proc.terminate()
            proc.wait(10)
    report(lines, args.results, args.db_url or url)
    return 0


if __name__ == '__main__':
    sys.exit(main())

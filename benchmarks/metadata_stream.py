"""Peak memory of the metadata server answering large GETs (issue 13, target 5: "memory of
the metadata server while answering a 100,000-row GET stays bounded").

    python benchmarks/metadata_stream.py --base /tmp/base-checkout [--postgres URL]
                                         [--rows 10000,100000] [--results FILE]

Loads ``max(--rows)`` /files rows (through ``PUT /files``, 1,000 at a time) into a fresh
SQLite file, or with ``--postgres`` a new database on that server, then for each code tree
(this checkout, and ``--base``, a checkout of an older commit: ``git worktree add DIR REV``)
and each row count starts a metadata server on that database, warms it (``GET /files?_id=1``
and a 1,001-row GET), reads its resident set (``VmRSS``, the idle figure), sends
``GET /files?recursion_depth=0&items_per_page=N&page_number=1``, reads the body as it comes
(the client keeps none of it) and reads the server's peak resident set (``VmHWM``).
On PostgreSQL the tables are ANALYZEd after loading (see :func:`analyze`).
Growth = peak - idle. Bounded means the 100,000-row growth is not about 10 x the 10,000-row
one. The SHA-256 of each body is compared between the two trees (the same bytes).

Servers listen on ports 18100-18199. Results are printed as a Markdown table;
``--results FILE`` appends them to FILE.
"""
import argparse
import hashlib
import json
import os
import socket
import sys
import tempfile
import time

import requests

import benchlib
from benchlib import drop_postgres, fresh_postgres, report, start_metadata
from metadata_crud import file_row
from metadata_memory import peak_kib

HEADERS = {'Content-Type': 'application/json'}
PORTS = range(18100, 18200)


def bench_port():
    """A free port in this benchmark's range."""
    for port in PORTS:
        with socket.socket() as sock:
            try:
                sock.bind(('127.0.0.1', port))
            except OSError:
                continue
            return port
    raise SystemExit('no free port in {}-{}'.format(PORTS[0], PORTS[-1]))


def load(url, rows):
    """``rows`` files in one transaction's worth of transactions (1,000 files each)."""
    session = requests.Session()
    transactions = (rows + 999) // 1000
    resp = session.put(url + '/transactions', data=json.dumps(
        [{'_id': t, 'description': 'stream bench'} for t in range(1, transactions + 1)]),
                       headers=HEADERS, timeout=300)
    resp.raise_for_status()
    for start in range(0, rows, 1000):
        body = [file_row(n + 1, n // 1000 + 1) for n in range(start, min(rows, start + 1000))]
        resp = session.put(url + '/files', data=json.dumps(body), headers=HEADERS, timeout=300)
        resp.raise_for_status()


def analyze(db_url):
    """``ANALYZE``, as autovacuum soon would after such a load: without statistics the
    planner reads the 1,000-row batches through the index on ``deleted`` (every row) and
    sorts, instead of the primary key."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute('ANALYZE')
    conn.close()


def get(url, query):
    """(seconds, bytes, sha256 hex, Content-Length header or '-') of one streamed-in GET."""
    digest = hashlib.sha256()
    size = 0
    start = time.perf_counter()
    with requests.get(url + '/files?' + query, stream=True, timeout=600) as resp:
        resp.raise_for_status()
        for chunk in resp.iter_content(1 << 16):
            digest.update(chunk)
            size += len(chunk)
        length = resp.headers.get('Content-Length', '-')
    return time.perf_counter() - start, size, digest.hexdigest(), length


def measure(root, db_url, rows):
    """Start a server of the tree ``root`` and measure one ``rows``-row GET."""
    proc, url = start_metadata(db_url, root=root)
    try:
        get(url, '_id=1')
        get(url, 'recursion_depth=0&items_per_page=1001&page_number=1')
        _, idle = peak_kib(proc.pid)
        took, size, digest, length = get(
            url, 'recursion_depth=0&items_per_page={}&page_number=1'.format(rows))
        peak, _ = peak_kib(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
    return {'idle': idle / 1024.0, 'growth': (peak - idle) / 1024.0, 'seconds': took,
            'bytes': size, 'sha': digest, 'length': length}


def run(args, db_url):
    """Load the rows, measure every (tree, rows) pair; Markdown lines."""
    counts = sorted(int(n) for n in args.rows.split(','))
    proc, url = start_metadata(db_url)
    try:
        load(url, counts[-1])
    finally:
        proc.terminate()
        proc.wait(10)
    if db_url.startswith('postgres'):
        analyze(db_url)
    trees = (('this checkout', benchlib.ROOT), ('base ({})'.format(args.base), args.base))
    found = {}
    for label, root in trees:
        for rows in counts:
            found[label, rows] = measure(root, db_url, rows)
    lines = ['| code | rows | body | Content-Length | time | idle RSS | peak growth | '
             'growth / growth at {:,} |'.format(counts[0]),
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for label, _ in trees:
        first = found[label, counts[0]]['growth']
        for rows in counts:
            got = found[label, rows]
            lines.append('| {} | {:,} | {:.1f} MB | {} | {:.2f} s | {:.0f} MiB | +{:.1f} MiB | '
                         '{:.1f} x |'.format(label, rows, got['bytes'] / 1e6,
                                             'yes' if got['length'] != '-' else 'no (streamed)',
                                             got['seconds'], got['idle'], got['growth'],
                                             got['growth'] / first if first > 0 else float('nan')))
    same = all(found[trees[0][0], rows]['sha'] == found[trees[1][0], rows]['sha']
               for rows in counts)
    lines.append('')
    lines.append('Bodies byte-identical between the two trees: {}.'.format(
        'yes' if same else 'NO'))
    return lines


def main(argv=None):
    """Parse the arguments, run, print (and append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--base', required=True, help='a checkout of the commit to compare')
    parser.add_argument('--postgres', help='a PostgreSQL server (default: a SQLite file)')
    parser.add_argument('--rows', default='10000,100000', help='row counts, comma-separated')
    parser.add_argument('--results', help='append the Markdown table to this file')
    args = parser.parse_args(argv)
    benchlib.free_port = bench_port   # start_metadata's servers listen in PORTS
    db_url = fresh_postgres(args.postgres, 'bench_stream') if args.postgres else (
        'sqliteext:///' + os.path.join(tempfile.mkdtemp(prefix='bench-md-stream-'),
                                       'metadata.sqlite3'))
    try:
        lines = run(args, db_url)
    finally:
        if args.postgres:
            drop_postgres(db_url)
    report(lines, args.results, db_url if args.postgres else 'sqlite')
    return 0


if __name__ == '__main__':
    sys.exit(main())

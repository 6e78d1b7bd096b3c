"""Metadata /transactioninfo of a large upload, this tree against another commit, side by
side in one run (issue 13, target 2).

    git worktree add /tmp/md-base ecb7463
    python benchmarks/metadata_transactioninfo.py --base /tmp/md-base
    python benchmarks/metadata_transactioninfo.py --base /tmp/md-base \\
        --postgres postgresql://postgres@127.0.0.1:5432/postgres

Two servers are started on free ports, each on its own fresh database (SQLite files in a
temporary directory, or new databases on the given PostgreSQL server, dropped at the end):
one runs this tree, one the ``--base`` checkout (through PYTHONPATH). Each gets the same
``PUT /ingest`` of one transaction with ``--files`` files (1,000), each file with two
key/values. Then ``GET /transactioninfo/by_id/<id>`` and ``GET /transactioninfo/files/<id>``
are timed ``--repeat`` times (``--client``: through requests or http.client), the two
servers alternating request by request so that the
load of a shared machine falls on both alike; the answers of both must be equal (but for
the rows' creation times). On PostgreSQL both databases are ANALYZEd after the load. Medians
and the speed-up are printed as a Markdown table; ``--results FILE`` appends it there.
"""
import argparse
import http.client
import json
import os
import shutil
import statistics
import sys
import tempfile
import time

import requests

from benchlib import drop_postgres, fresh_postgres, report, start_metadata

HEADERS = {'Content-Type': 'application/json'}
SHA1 = 'da39a3ee5e6b4b0d3255bfef95601890afd80709'
USER, PROJECT, INSTRUMENT, TID = 900001, 'bench-project', 900001, 777001


def document(files):
    """An ingest document shaped like pacifica-ingest's, files with two key/values each."""
    doc = [{'destinationTable': 'Transactions.submitter', 'value': USER},
           {'destinationTable': 'Transactions.project', 'value': PROJECT},
           {'destinationTable': 'Transactions.instrument', 'value': INSTRUMENT}]
    doc += [{'destinationTable': 'TransactionKeyValue', 'key': 'key{}'.format(n),
             'value': 'value{}'.format(n)} for n in range(20)]
    for n in range(files):
        doc.append({'destinationTable': 'Files', '_id': 10 ** 7 + n,
                    'name': 'file{}.dat'.format(n), 'subdir': 'run/{}'.format(n % 17),
                    'ctime': '2020-01-02T03:04:05', 'mtime': 1577934245 + n,
                    'size': 1000 + n, 'mimetype': 'application/octet-stream',
                    'hashtype': 'sha1', 'hashsum': SHA1})
        doc += [{'destinationTable': 'FileKeyValue', 'file_id': 10 ** 7 + n, 'key': key,
                 'value': '{}-{}'.format(key, n % 5)} for key in ('instrument_mode', 'run')]
    doc.append({'destinationTable': 'Transactions._id', 'value': TID})
    return doc


def load(url, files):
    """Seed the transaction's parents and ingest it."""
    session = requests.Session()
    for path, body in (('users', {'_id': USER, 'first_name': 'bench'}),
                       ('projects', {'_id': PROJECT, 'title': 'bench'}),
                       ('instruments', {'_id': INSTRUMENT, 'name': 'bench'}),
                       ('ingest', document(files))):
        resp = session.put('{}/{}'.format(url, path), data=json.dumps(body), headers=HEADERS,
                           timeout=600)
        if resp.status_code != 200:
            raise SystemExit('PUT /{} on {}: {} {}'.format(path, url, resp.status_code,
                                                          resp.text[:300]))
    return session


def analyze(db_url):
    """ANALYZE a PostgreSQL database just loaded: autovacuum would, a little later; without
    statistics the planner takes the ``deleted IS NULL`` index for every file (a BitmapAnd
    per row, 50 ms for 1,000 files instead of 3 ms)."""
    import psycopg2  # pylint: disable=import-outside-toplevel
    conn = psycopg2.connect(db_url)
    conn.autocommit = True
    conn.cursor().execute('ANALYZE')
    conn.close()


def _requests_get(session, url):
    def get(path):
        resp = session.get(url + path, timeout=600)
        return resp.status_code, resp.content
    return get


def _http_client_get(url):
    host, port = url.split('//', 1)[1].rsplit(':', 1)
    conn = http.client.HTTPConnection(host, int(port), timeout=600)

    def get(path):
        conn.request('GET', path)
        resp = conn.getresponse()
        return resp.status, resp.read()
    return get


def timed_pair(getters, urls, path, repeat):
    """Alternate GET ``path`` on both servers ``repeat`` times; medians in ms and bodies."""
    times = [[], []]
    bodies = [None, None]
    for _ in range(repeat):
        for side in (0, 1):
            begin = time.perf_counter()
            status, content = getters[side](path)
            times[side].append((time.perf_counter() - begin) * 1000)
            if status != 200:
                raise SystemExit('GET {} on {}: {}'.format(path, urls[side], status))
            bodies[side] = json.loads(content)
    return [statistics.median(t) for t in times], bodies


def _without_stamps(value):
    """``value`` with the times the two loads made differently (row creation) blanked."""
    if isinstance(value, dict):
        return {key: None if key in ('created', 'updated', 'submitted') else
                _without_stamps(item) for key, item in value.items()}
    return value


def _first_difference(new, base, where=''):
    if isinstance(new, dict) and isinstance(base, dict):
        for key in sorted(set(new) | set(base)):
            if new.get(key) != base.get(key):
                return _first_difference(new.get(key), base.get(key), where + '/' + key)
    return '{}: {!r} here, {!r} in the base'.format(where, new, base)


def main(argv=None):
    """Start both servers, load them, time, print (and append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--base', required=True, help='checkout of the commit to compare with')
    parser.add_argument('--postgres', help='a PostgreSQL server URL (default: SQLite files)')
    parser.add_argument('--files', type=int, default=1000)
    parser.add_argument('--repeat', type=int, default=15)
    parser.add_argument('--results', help='append the Markdown table to this file')
    parser.add_argument('--client', choices=('requests', 'http.client'), default='requests',
                        help='the timed GETs: through a requests session (as before), or '
                        "http.client, whose read of a 400 KB body costs ~2 ms less (the "
                        "same for both servers: it narrows the ratio, it is the client's)")
    args = parser.parse_args(argv)
    if not os.path.isdir(os.path.join(args.base, 'pacifica')):
        # else PYTHONPATH would name nothing and the "base" server would run this tree
        parser.error('--base {!r} is no checkout (it has no pacifica/)'.format(args.base))
    tmp = tempfile.mkdtemp(prefix='bench-ti-')
    if args.postgres:
        db_urls = [fresh_postgres(args.postgres, 'bench_ti') for _ in (0, 1)]
    else:
        db_urls = ['sqliteext:///' + os.path.join(tmp, name) for name in ('new.db', 'base.db')]
    procs = []
    try:
        for db_url, root in zip(db_urls, (None, os.path.abspath(args.base))):
            procs.append(start_metadata(db_url, **({'root': root} if root else {})))
        urls = [url for _, url in procs]
        sessions = [load(url, args.files) for url in urls]
        getters = [_requests_get(session, url) if args.client == 'requests' else
                   _http_client_get(url) for session, url in zip(sessions, urls)]
        if args.postgres:
            for db_url in db_urls:
                analyze(db_url)
        base_name = os.path.basename(os.path.abspath(args.base))
        lines = ['| request ({} files, {}) | this tree | {} | speed-up |'.format(
            args.files, args.client, base_name), '| --- | --- | --- | --- |']
        for path in ('/transactioninfo/by_id/{}', '/transactioninfo/files/{}'):
            path = path.format(TID)
            (new, base), bodies = timed_pair(getters, urls, path, args.repeat)
            bodies = [_without_stamps(body) for body in bodies]
            if bodies[0] != bodies[1]:
                raise SystemExit('GET {}: the two servers answer differently: {}'.format(
                    path, _first_difference(*bodies)))
            lines.append('| GET {} | {:.1f} ms | {:.1f} ms | {:.2f} x |'.format(
                path, new, base, base / new))
    finally:
        for proc, _ in procs:
            proc.terminate()
            proc.wait(10)
        if args.postgres:
            for db_url in db_urls:
                drop_postgres(db_url)
        shutil.rmtree(tmp, ignore_errors=True)
    report(lines, args.results, args.postgres or 'sqlite')
    return 0


if __name__ == '__main__':
    sys.exit(main())

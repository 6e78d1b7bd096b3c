"""Peak memory of large JSON PUTs to metadata (issue 14, item 4).

    python benchmarks/metadata_memory.py [--db-url URL] [--results FILE]

For each request below, starts a metadata server on a fresh SQLite file (or
``--db-url``, an empty database, for the first server only), sends the request and reads
the server's peak resident set (``VmHWM`` in ``/proc/<pid>/status``) before and after:

a) the review's hostile body: 1,000,000 x ``{"a":1}`` followed by ``"x"`` (8 MB) to
   ``PUT /keys``, with the default body limit, and again with ``max_request_body`` at
   CherryPy's old default of 100 MB (so the JSON reader's own object bound is measured);
   refused either way, the figure is what refusing it costs;
b) a valid PUT of ``--rows`` keywords (``{"keyword": "k<n>"}``), stored (body limit
   100 MB so that the figure does not depend on it).

Run it in a checkout of an older commit to get the "before" figure of a change.
Results are printed as a Markdown table; ``--results FILE`` appends them to FILE.
"""
import argparse
import json
import os
import tempfile
import time

import requests

from benchlib import report, start_metadata

HEADERS = {'Content-Type': 'application/json'}


def peak_kib(pid):
    """The process's peak and current resident set in KiB (VmHWM, VmRSS)."""
    found = {}
    with open('/proc/{}/status'.format(pid), encoding='ascii') as status:
        for line in status:
            name, _, value = line.partition(':')
            if name in ('VmHWM', 'VmRSS'):
                found[name] = int(value.split()[0])
    return found['VmHWM'], found['VmRSS']


def measure(proc, url, path, raw):
    """(status, seconds, peak growth MiB) of one PUT of ``raw``."""
    before, _ = peak_kib(proc.pid)
    start = time.monotonic()
    resp = requests.put('{}/{}'.format(url, path), data=raw, headers=HEADERS, timeout=600)
    took = time.monotonic() - start
    after, _ = peak_kib(proc.pid)
    return resp.status_code, took, (after - before) / 1024.0


def main():
    """Run the measurements and print (and optionally append) the table."""
    parser = argparse.ArgumentParser(description=__doc__.split('\n', 1)[0])
    parser.add_argument('--db-url', help='an empty database (default: a new SQLite file)')
    parser.add_argument('--rows', type=int, default=100000, help='keywords in the valid PUT')
    parser.add_argument('--results', help='append the table to this file')
    args = parser.parse_args()
    db_url = args.db_url or 'sqliteext:///' + os.path.join(
        tempfile.mkdtemp(prefix='bench-md-memory-'), 'metadata.sqlite3')
    hostile = ('[' + ','.join(['{"a":1}'] * 1000000) + ',"x"]').encode()
    valid = json.dumps([{'keyword': 'k{}'.format(n)} for n in range(args.rows)]).encode()
    lines = ['| request | body limit | body | status | time | peak RSS growth | growth / body |',
             '| --- | --- | --- | --- | --- | --- | --- |']
    cases = (('1,000,001 elements, last one bad', 'keys', hostile, None),
             ('1,000,001 elements, last one bad', 'keys', hostile, '100 Mb'),
             ('{:,} valid keywords'.format(args.rows), 'keywords', valid, '100 Mb'))
    for label, path, raw, limit in cases:
        if limit:
            os.environ['METADATA_MAX_REQUEST_BODY'] = limit
        else:
            os.environ.pop('METADATA_MAX_REQUEST_BODY', None)
        proc, url = start_metadata(db_url)
        try:
            requests.get(url + '/keys?_id=1', timeout=30)   # warm: imports, pools, a query
            status, took, growth = measure(proc, url, path, raw)
        finally:
            proc.terminate()
            proc.wait()
        size = len(raw) / 2 ** 20
        lines.append('| PUT /{} ({}) | {} | {:.1f} MB | {} | {:.2f} s | +{:.0f} MB | {:.1f} x |'
                     .format(path, label, limit or 'default', size, status, took, growth,
                             growth / size))
        db_url = 'sqliteext:///' + os.path.join(
            tempfile.mkdtemp(prefix='bench-md-memory-'), 'metadata.sqlite3')
    report(lines, args.results, 'sqlite (a fresh file per server)' if not args.db_url
           else args.db_url)


if __name__ == '__main__':
    main()

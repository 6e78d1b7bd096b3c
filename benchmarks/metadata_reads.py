"""Metadata GET ratios side by side: this tree against another checkout, on one database.

    python benchmarks/metadata_reads.py --db-url postgresql://postgres@127.0.0.1/bench \\
        [--baseline /tmp/old-checkout] [--rounds 5] [--seconds 5] [--clients 8]

Starts a metadata server from this tree (and one from ``--baseline``, a checkout of another
commit, e.g. ``git archive``) on the same database (``dbsync`` first; the database should be
empty), loads the rows of metadata_crud.py (``--rows`` files, 100 users in a group), then for
``--rounds`` rounds measures on each server in turn ``GET /``, ``GET /files?_id=N`` and
``GET /users?_id=U`` (the default recursion), each GET run right after a ``GET /`` run of the
same server. Prints every round's ratios (GET / GET /) and their medians as a Markdown table:
on a shared machine a ratio to an adjacent baseline, alternated between the trees, says more
than two runs minutes apart.
"""
import argparse
import statistics
import sys

from benchlib import ROOT, report, start_metadata
from metadata_crud import bench_get, bench_put, bench_users

PATHS = {
    'files': lambda first: ['/files?_id={}'.format(i) for i in range(first, first + 1000)],
    'users': lambda first: ['/users?_id={}'.format(i) for i in range(first, first + 100)],
}


def _load(url, rows, first_id):
    bench_put(url, rows, 1000, first_id)
    bench_users(url, first_id + 10 ** 5)
    return {'files': PATHS['files'](first_id), 'users': PATHS['users'](first_id + 10 ** 5)}


def _round(url, paths, clients, seconds):
    """{name: (ratio, req/s, GET / req/s)} of one round on one server."""
    found = {}
    for name in ('files', 'users'):
        root = bench_get(url, ['/'], clients, seconds)[0]
        rate = bench_get(url, paths[name], clients, seconds)[0]
        found[name] = (rate / root, rate, root)
    return found


def main(argv=None):
    """Run the rounds and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--db-url', required=True, help='an empty database')
    parser.add_argument('--baseline', help='another checkout to measure beside this tree')
    parser.add_argument('--rows', type=int, default=10000, help='files to load')
    parser.add_argument('--clients', type=int, default=8)
    parser.add_argument('--seconds', type=float, default=5, help='duration of each GET run')
    parser.add_argument('--rounds', type=int, default=3)
    parser.add_argument('--first-id', type=int, default=10 ** 6)
    parser.add_argument('--results', help='append the Markdown table to this file')
    args = parser.parse_args(argv)
    trees = [('this tree', ROOT)] + ([('baseline', args.baseline)] if args.baseline else [])
    servers = []
    try:
        for label, root in trees:
            servers.append((label,) + start_metadata(args.db_url, root))
        paths = _load(servers[0][2], args.rows, args.first_id)
        results = {label: [] for label, _root in trees}
        for _ in range(args.rounds):
            for label, _proc, url in servers:
                results[label].append(_round(url, paths, args.clients, args.seconds))
    finally:
        for _label, proc, _url in servers:
            proc.terminate()
            proc.wait(10)
    lines = ['| tree | GET | ratio to GET / per round | median ratio | median req/s '
             '(GET / req/s) |', '| --- | --- | --- | --- | --- |']
    for label, rounds in results.items():
        for name, path in (('files', '/files?_id=N'), ('users', '/users?_id=U')):
            ratios = [r[name][0] for r in rounds]
            lines.append('| {} | {} | {} | **{:.2f}** | {:.0f} ({:.0f}) |'.format(
                label, path, ' '.join('{:.2f}'.format(x) for x in ratios),
                statistics.median(ratios), statistics.median(r[name][1] for r in rounds),
                statistics.median(r[name][2] for r in rounds)))
    report(lines, args.results, args.db_url)
    return 0


if __name__ == '__main__':
    sys.exit(main())

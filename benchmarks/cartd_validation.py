"""CPU time of validating a cart POST of many long, deep paths (run by hand).

    python benchmarks/cartd_validation.py [--files 1000 2000 4000 8000]

For each cart size, ``validate.cart_request`` checks a body of N files whose paths are
3 990 bytes long and 64 names deep (the deepest allowed), all under one shared top
directory so the file/directory clash check has every prefix to compare. Linear validation
shows as a constant time per file (and per MB); the clash check upstream's shape used
(each parent of each path looked up in a set) is timed beside it on the same paths.
Prints a Markdown table for benchmarks/RESULTS.md.
"""
import argparse
import json
import os
import posixpath
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pacifica.cartd import validate  # noqa: E402  pylint: disable=wrong-import-position

HASH = 'd41d8cd98f00b204e9800998ecf8427e'


def body(count):
    """A POST body of ``count`` files, paths 64 names deep and about 3 990 bytes long."""
    items = []
    for number in range(count):
        names = ['top'] + ['{:06d}-{}'.format(number, 'n' * 54)] * 62 + ['f.txt']
        items.append({'id': number, 'path': '/'.join(names), 'hashtype': 'md5',
                      'hashsum': HASH})
    return {'fileids': items}


def quadratic_clash_check(paths):
    """Each parent of each path looked up in the set: the check before this change."""
    for path in paths:
        parent = posixpath.dirname(path)
        while parent:
            if parent in paths:
                raise validate.Invalid(parent)
            parent = posixpath.dirname(parent)


def best_of(runs, work):
    """The shortest of ``runs`` timings of ``work()``, in seconds."""
    best = None
    for _ in range(runs):
        started = time.process_time()
        work()
        took = time.process_time() - started
        best = took if best is None else min(best, took)
    return best


def main():
    """Time each size and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--files', type=int, nargs='+', default=[1000, 2000, 4000, 8000])
    parser.add_argument('--runs', type=int, default=3)
    args = parser.parse_args()
    print('| files | body MB | cart_request s | µs per file | s per MB | '
          'old clash check alone s |')
    print('| --- | --- | --- | --- | --- | --- |')
    for count in args.files:
        request = body(count)
        size = len(json.dumps(request)) / 1e6
        took = best_of(args.runs, lambda: validate.cart_request(request, False))
        paths = {item['path'] for item in request['fileids']}
        old = best_of(1, lambda: quadratic_clash_check(paths))
        print('| {} | {:.1f} | {:.3f} | {:.0f} | {:.3f} | {:.2f} |'.format(
            count, size, took, took / count * 1e6, took / size, old))
    # The security review's body: 1000 paths of 4000 bytes, 1990 names deep (2.83 s before).
    review = {'fileids': [{'id': n, 'path': 'd/' * 1990 + 'f{:09d}'.format(n),
                           'hashtype': 'md5', 'hashsum': HASH} for n in range(1000)]}
    refused = best_of(args.runs, lambda: _refused(review))
    print()
    print('1000 paths 1990 names deep (the review\'s body): refused (400, too deep) in '
          '{:.1f} ms'.format(refused * 1000))


def _refused(request):
    try:
        validate.cart_request(request, False)
    except validate.Invalid:
        return
    raise AssertionError('the deep body was accepted')


if __name__ == '__main__':
    main()

"""What the archive's durability costs: PUT-sized stores with and without the directory sync.

An acknowledged PUT or PATCH now also fsyncs the directory after its rename (before, only the
file was synced, so a crash could lose a file the client had been told was stored). This
stores ``--files`` files of ``--size`` bytes through the POSIX backend itself (no HTTP, so
the figure is the storage cost alone), in rounds that alternate between the backend as it
is and the same backend with the directory sync switched off, and prints the median time per
store of each. Run it on the filesystem the archive will use (``--dir``): on tmpfs an fsync
costs nothing.

    python benchmarks/archive_durability.py --dir /srv/scratch --files 200 --size 65536
"""
import argparse
import io
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from pacifica.archiveinterface.backend import PosixBackend  # noqa: E402  pylint: disable=wrong-import-position


def one_round(root, files, data, sync_directory):
    """Store ``files`` new files; returns the seconds each store took."""
    backend = PosixBackend(root)
    if not sync_directory:
        backend._sync_directory = lambda full, fileid: None  # pylint: disable=protected-access
    times = []
    for number in range(files):
        started = time.perf_counter()
        backend.store('f{}.bin'.format(number), io.BytesIO(data), len(data), 0)
        times.append(time.perf_counter() - started)
    return times


def main():
    """Alternate rounds with and without the directory sync; print the medians."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--dir', default=None, help='where to store (default: a temp dir)')
    parser.add_argument('--files', type=int, default=200, help='files per round')
    parser.add_argument('--size', type=int, default=65536, help='bytes per file')
    parser.add_argument('--rounds', type=int, default=6, help='rounds of each kind')
    args = parser.parse_args()
    data = os.urandom(args.size)
    results = {True: [], False: []}
    for number in range(args.rounds * 2):
        sync = number % 2 == 0
        with tempfile.TemporaryDirectory(dir=args.dir) as root:
            results[sync].extend(one_round(root, args.files, data, sync))
    for sync in (False, True):
        times = sorted(results[sync])
        print('{:<28} median {:6.2f} ms   p90 {:6.2f} ms   ({} stores of {} bytes)'.format(
            'file sync + directory sync' if sync else 'file sync only (before)',
            statistics.median(times) * 1000, times[int(len(times) * 0.9)] * 1000,
            len(times), args.size))


if __name__ == '__main__':
    main()

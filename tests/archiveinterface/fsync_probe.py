"""Run the archive interface with os.fsync, os.rename, os.chmod and os.unlink recorded.

Test-only: ``python fsync_probe.py <pacifica-archiveinterface arguments>``. Each call is
appended to ``$PROBE_LOG`` as one JSON line (fsync by the path of its descriptor), in the
order the server made them. With ``$PROBE_EXDEV`` set to a directory, a rename out of it
fails with EXDEV, as it does when that directory is on another filesystem (which a test
machine cannot be relied on to have).
"""
import errno
import json
import os
import sys
import threading

LOG = os.environ['PROBE_LOG']
EXDEV_FROM = os.environ.get('PROBE_EXDEV')
_LOCK = threading.Lock()
_REAL = {name: getattr(os, name) for name in ('fsync', 'rename', 'chmod', 'unlink')}


def _record(**event):
    with _LOCK, open(LOG, 'a', encoding='utf-8') as handle:
        handle.write(json.dumps(event) + '\n')


def fsync(fd):
    """Record the path the descriptor names, then sync it."""
    _REAL['fsync'](fd)
    _record(op='fsync', path=os.readlink('/proc/self/fd/{}'.format(fd)))


def rename(src, dst, **kwargs):
    """Record the rename; fail it with EXDEV out of PROBE_EXDEV."""
    if EXDEV_FROM and os.fspath(src).startswith(EXDEV_FROM + os.sep):
        _record(op='rename-exdev', src=os.fspath(src), dst=os.fspath(dst))
        raise OSError(errno.EXDEV, 'Invalid cross-device link')
    _REAL['rename'](src, dst, **kwargs)
    _record(op='rename', src=os.fspath(src), dst=os.fspath(dst))


def chmod(path, mode, **kwargs):
    """Record the mode change."""
    _REAL['chmod'](path, mode, **kwargs)
    _record(op='chmod', path=os.fspath(path), mode=mode)


def unlink(path, **kwargs):
    """Record the removal."""
    _REAL['unlink'](path, **kwargs)
    _record(op='unlink', path=os.fspath(path))


os.fsync, os.rename, os.chmod, os.unlink = fsync, rename, chmod, unlink

if __name__ == '__main__':
    from pacifica.archiveinterface.__main__ import main
    sys.exit(main(sys.argv[1:]))

"""Writing a staged file around the page cache (``O_DIRECT``), where the volume allows it.

A cart's files are written once and read later, usually once; through the page cache every
byte first needs a fresh page of memory, which on a virtual machine whose memory the host
hands out (and takes back) on demand costs more CPU than the download and the hash together
(200 MiB: about 0.6 s of kernel time for buffered writes, 0.1 s with ``O_DIRECT``, on the
benchmark machine; see benchmarks/RESULTS.md). :class:`DirectWriter` copies the bytes into
one page-aligned buffer and writes it to the file whenever it is full, straight from that
buffer to the device.

It changes nothing about durability: an ``O_DIRECT`` write is not a flush of the device's
cache, nor of the file's metadata (a reserved block becoming written), so a staged file is
still fsynced before it is recorded staged (:class:`.staging.Syncer`).

Where ``O_DIRECT`` is refused (tmpfs before Linux 6.6, some FUSE and network file systems,
platforms without it), when setting it fails or a direct write returns ``EINVAL``, the
writer falls back to plain writes for the rest of the file: the bytes are the same either
way. The tail of a file that does not fill whole blocks is written the plain way too.

A file smaller than the buffer (:data:`SMALL`) is written the plain way from the start: it
would be one direct write, which waits for the device there and then, in the thread that
goes on to download the next file, where a buffered write leaves that wait to the
background fsync; and the fresh pages that direct writes spare are few for such a file
(carts of 10,000 files of 4 KiB staged slower with direct writes: benchmarks/RESULTS.md).
"""
import errno
import fcntl
import mmap
import os

ALIGN = 4096               # offsets and lengths of direct writes: every device's block size
BUFFER = 1 << 20           # bytes gathered before each direct write
SMALL = BUFFER             # files of fewer bytes than this are written plainly
DIRECT = getattr(os, 'O_DIRECT', 0)


def aligned_buffer(size=BUFFER):
    """A page-aligned writable buffer of ``size`` bytes (a multiple of :data:`ALIGN`) for
    :class:`DirectWriter`; keep one per process and reuse it, as fresh memory is what
    direct writes avoid."""
    return memoryview(mmap.mmap(-1, size))


class DirectWriter:
    """A binary file-like sink (``write``, ``flush``, ``fileno``) over ``fd``, a file opened
    for writing at offset 0, writing whole aligned blocks with ``O_DIRECT`` when it can,
    gathering them in ``buffer`` (from :func:`aligned_buffer`; one writer at a time).
    ``size``, the number of bytes the file will hold when known: below :data:`SMALL`, the
    whole file is written plainly.

    It does not close ``fd``: the caller owns it. :meth:`flush` writes out what is
    gathered (after which any further bytes go the plain way, their offset being no longer
    aligned), so call it once, at the end.
    """

    def __init__(self, fd, buffer, size=None):
        self.fd = fd
        self.direct = (size is None or size >= SMALL) and _set_direct(fd, True)
        self._buffer = buffer
        self._filled = 0

    def fileno(self):
        """The file's descriptor."""
        return self.fd

    def write(self, data):
        """Take ``data`` (bytes-like); returns its length."""
        data = memoryview(data).cast('B')
        if not self.direct:
            self._write(data)
            return len(data)
        done = 0
        while done < len(data):
            room = len(self._buffer) - self._filled
            piece = data[done:done + room]
            self._buffer[self._filled:self._filled + len(piece)] = piece
            self._filled += len(piece)
            done += len(piece)
            if self._filled == len(self._buffer):
                self._drain(self._filled)
                if not self.direct:   # refused by that write: the rest goes plainly
                    self._write(data[done:])
                    break
        return len(data)

    def flush(self):
        """Write out everything gathered: the whole blocks direct, the rest (the file's
        tail) plainly; later writes are plain."""
        whole = self._filled - self._filled % ALIGN
        if whole and self.direct:
            self._drain(whole)
        self._plain()
        self._write(self._buffer[:self._filled])
        self._filled = 0

    def _drain(self, count):
        """Write the first ``count`` bytes of the buffer and keep the rest at its start."""
        self._write(self._buffer[:count])
        rest = self._filled - count
        if rest:
            self._buffer[:rest] = self._buffer[count:self._filled]
        self._filled = rest

    def _write(self, view):
        """Write all of ``view`` at the file's offset: direct while the file system takes
        it, plainly from the first ``EINVAL`` on (a file system that accepted the flag but
        refuses the write)."""
        while view:
            try:
                view = view[os.write(self.fd, view):]
            except OSError as exc:
                if exc.errno != errno.EINVAL or not self.direct:
                    raise
                self._plain()

    def _plain(self):
        if self.direct:
            _set_direct(self.fd, False)
            self.direct = False


def _set_direct(fd, on):
    """Set or clear ``O_DIRECT`` on ``fd``; whether it is now set."""
    if not DIRECT:
        return False
    flags = fcntl.fcntl(fd, fcntl.F_GETFL)
    try:
        fcntl.fcntl(fd, fcntl.F_SETFL, (flags | DIRECT) if on else (flags & ~DIRECT))
    except OSError as exc:
        if on and exc.errno in (errno.EINVAL, errno.EOPNOTSUPP):
            return False
        raise
    return on


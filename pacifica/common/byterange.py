"""The one ``Range: bytes=`` rule for file downloads: a single range or the whole file.

Several ranges in one header are answered with the whole file (RFC 9110 lets a server ignore
``Range``): serving them as ``multipart/byteranges`` lets a short request ask for the file
hundreds of times over (``bytes=0-,0-,0-...``). A header that does not parse is ignored the
same way; a range that starts at or after the end of the file cannot be satisfied (416).
"""
import re

_SINGLE = re.compile(r'bytes=([0-9]{0,19})-([0-9]{0,19})\Z')
UNSATISFIABLE = 'unsatisfiable'


def single_range(header, size):
    """``(start, stop)`` with ``stop`` exclusive for one satisfiable range of a file of
    ``size`` bytes, ``None`` to send the whole file, or :data:`UNSATISFIABLE`."""
    if not header:
        return None
    match = _SINGLE.match(header.strip().replace(' ', ''))
    if match is None:
        return None     # several ranges, another unit, or junk: the whole file
    first, last = match.groups()
    if not first:
        if not last:
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            return UNSATISFIABLE
        return max(0, size - suffix), size
    start = int(first)
    if last and int(last) < start:
        return None     # invalid range: ignored (RFC 9110 §14.1.1)
    if start >= size:
        return UNSATISFIABLE
    stop = min(int(last) + 1, size) if last else size
    return start, stop

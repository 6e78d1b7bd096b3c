"""The one ``Range`` rule (RFC 9110 §14) for the services' file downloads: a single byte
range (206), the whole file (200), or a range that cannot be satisfied (416).

* The header is ``<unit>=<range-set>``; the unit is compared case-insensitively, a unit other
  than ``bytes`` is ignored. The range-set is a comma list: blanks around the commas and empty
  elements are allowed, as in every HTTP list.
* Several ranges are answered with the whole file (RFC 9110 lets a server ignore ``Range``):
  serving them as ``multipart/byteranges`` lets a short request ask for the file hundreds of
  times over (``bytes=0-,0-,0-...``).
* A header that does not parse, or a range whose last byte comes before its first
  (``bytes=5-3``), is invalid and ignored the same way.
* ``first-`` and ``first-last`` are satisfiable when ``first`` is inside the file; ``-N`` when
  N is not zero. The last N bytes of an empty file are satisfiable but are no bytes at all,
  which a 206 cannot express (``Content-Range`` names a first and a last byte): the whole,
  empty file is the answer.
* Numbers may have any number of digits (the RFC asks for that): one larger than the file is
  compared as digits and never converted whole.
"""
import re

UNSATISFIABLE = 'unsatisfiable'

_OWS = ' \t'
_SPECIFIER = re.compile(r"([!#$%&'*+.^_`|~0-9A-Za-z-]+)=(.*)\Z", re.DOTALL)
_SPEC = re.compile(r'([0-9]*)-([0-9]*)\Z')


def _key(digits):
    """A sort key of a decimal numeral that needs no conversion to int."""
    digits = digits.lstrip('0')
    return len(digits), digits


def _at_most(digits, limit):
    """``min(int(digits), limit)``, without converting a numeral longer than ``limit``."""
    digits = digits.lstrip('0') or '0'
    if len(digits) > len(str(limit)):
        return limit
    return min(int(digits), limit)


def single_range(header, size):
    """``(start, stop)`` with ``stop`` exclusive for one satisfiable range of a file of
    ``size`` bytes, ``None`` to send the whole file, or :data:`UNSATISFIABLE`."""
    if not header:
        return None
    specifier = _SPECIFIER.match(header.strip(_OWS))
    if specifier is None or specifier.group(1).lower() != 'bytes':
        return None     # junk or another unit: the whole file
    specs = [spec for spec in (part.strip(_OWS) for part in specifier.group(2).split(','))
             if spec]
    if len(specs) != 1:
        return None     # no range at all, or several: the whole file
    spec = _SPEC.match(specs[0])
    if spec is None:
        return None
    first, last = spec.groups()
    if first:
        if last and _key(last) < _key(first):
            return None     # invalid range: ignored (RFC 9110 §14.1.1)
        start = _at_most(first, size)
        if start >= size:
            return UNSATISFIABLE
        return start, (_at_most(last, size - 1) + 1 if last else size)
    if not last:
        return None     # "bytes=-" names no range
    if not last.strip('0'):
        return UNSATISFIABLE    # the last 0 bytes
    if size == 0:
        return None
    return size - _at_most(last, size), size

"""Value coercion for bodies and query strings.

One function per column type, strict where upstream was lenient (spec D3, D14, D15, D20):
a value that does not fit its column is a 400 naming the field, never a database error.
"""
import datetime
import math
import re
import uuid

from dateutil import parser as date_parser

from pacifica.common import config
from pacifica.common.database import peewee

from . import InputError

INT_RANGE = (-2 ** 31, 2 ** 31 - 1)
BIGINT_RANGE = (-2 ** 63, 2 ** 63 - 1)
MAX_CHAR = 255
MAX_REAL = 3.4028234663852886e38   # journals.impact_factor is single precision (D25)

# Two different fallbacks: a component the text does not give differs between the two
# parses, which is how an incomplete date ("2017", "Jul 15") is detected (D20).
_ISO_DATE = re.compile(r'^\d{4}-\d{2}-\d{2}([T ]|$)')
_FALLBACKS = (datetime.datetime(2001, 1, 1), datetime.datetime(2002, 2, 2))


def _bad(name, value, what):
    text = repr(value)
    if len(text) > 80:
        text = text[:77] + '...'
    return InputError('{!r}: {} is not {}'.format(name, text, what))


def parse_datetime(name, value, source='query'):
    """A naive UTC datetime in whole seconds.

    Strings: ISO 8601 and the other forms dateutil reads, with at least a full date; an
    offset is converted to UTC (D15). JSON integers in bodies: seconds since the epoch.
    """
    if isinstance(value, int) and not isinstance(value, bool) and source == 'body':
        try:
            stamp = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        except (OverflowError, OSError, ValueError):
            raise _bad(name, value, 'a representable epoch time') from None
        return stamp.replace(tzinfo=None)
    if not isinstance(value, str):
        raise _bad(name, value, 'a date string' + (' or epoch seconds' if source == 'body' else ''))
    text = value.strip()
    if _ISO_DATE.match(text):
        # the common case, ISO 8601 with a full date, without dateutil's slower tokenizer
        try:
            parsed = datetime.datetime.fromisoformat(text.replace('Z', '+00:00'))
        except ValueError:
            parsed = None
        if parsed is not None:
            return _to_utc(name, value, parsed)
    if text.isdigit() and len(text) != 8:
        raise _bad(name, value, 'a date (digits alone are only read as YYYYMMDD)')
    try:
        first, second = (date_parser.parse(text, default=fallback) for fallback in _FALLBACKS)
    except (ValueError, OverflowError, TypeError):
        raise _bad(name, value, 'a date') from None
    if first.replace(tzinfo=None).date() != second.replace(tzinfo=None).date():
        raise _bad(name, value, 'a full date (year, month and day are required)')
    return _to_utc(name, value, first)


def _to_utc(name, value, stamp):
    """D15: an aware time becomes naive UTC; microseconds are dropped (the stored form)."""
    if stamp.tzinfo is not None:
        try:
            stamp = stamp.astimezone(datetime.timezone.utc).replace(tzinfo=None)
        except (OverflowError, ValueError):
            raise _bad(name, value, 'a representable date') from None
    return stamp.replace(microsecond=0)


def parse_bool(name, value):
    """``true/false/1/0/yes/no/on/off`` (any case) or a JSON boolean / 0 / 1 (D20)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str):
        try:
            return config.parse_bool(value)
        except ValueError:
            pass
    raise _bad(name, value, 'a boolean (true/false, 1/0, yes/no, on/off)')


def _parse_int(name, value, bounds):
    if isinstance(value, bool):
        raise _bad(name, value, 'an integer')
    if isinstance(value, str):
        try:
            value = config.parse_decimal_int(value, max_digits=20)
        except ValueError:
            raise _bad(name, value, 'an integer') from None
    if not isinstance(value, int):
        raise _bad(name, value, 'an integer')
    if not bounds[0] <= value <= bounds[1]:
        raise _bad(name, value, 'an integer within {}..{}'.format(*bounds))
    return value


def _parse_float(name, value):
    if isinstance(value, bool):
        raise _bad(name, value, 'a number')
    if isinstance(value, str):
        try:
            value = float(value.strip())
        except ValueError:
            raise _bad(name, value, 'a number') from None
    if not isinstance(value, (int, float)):
        raise _bad(name, value, 'a number')
    try:
        value = float(value)   # a JSON integer beyond a double's range overflows here
    except OverflowError:
        raise _bad(name, value, 'a finite number') from None
    if not math.isfinite(value) or abs(value) > MAX_REAL:
        raise _bad(name, value, 'a finite number within the range of a real')
    return value


def _parse_text(name, value, max_length):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)  # upstream str()-coerced numbers; clients send numeric names
    if not isinstance(value, str):
        raise _bad(name, value, 'a string')
    check_text(name, value)
    if max_length and len(value) > max_length:
        raise InputError('{!r}: {} characters is longer than the column allows ({})'.format(
            name, len(value), max_length))
    return value


def check_text(name, value):
    """Refuse text no database can hold or compare: NUL characters, unpaired surrogates.

    This is the one text check: every string of a request passes it at the door
    (:func:`check_request`, :func:`check_json`), and coercion repeats it for values that
    reach a column by other ways (the admin commands).
    """
    if '\x00' in value:
        raise InputError('{!r}: NUL characters are not accepted'.format(name))
    try:
        value.encode('utf-8')
    except UnicodeEncodeError:
        raise InputError('{!r}: not valid Unicode text (an unpaired surrogate)'.format(
            name)) from None


def check_request(vpath, params):
    """:func:`check_text` on every path segment and query parameter (names and values)."""
    for position, segment in enumerate(vpath, 1):
        check_text('path segment {}'.format(position), segment)
    for name, value in params.items():
        check_text('a parameter name', name)
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str):
                check_text(name, item)


def check_json(document):
    """:func:`check_text` on every string of a parsed JSON document, keys included; the
    message names where (``[3].relationship_name``). Iterative: depth costs no stack."""
    pending = [('', document)]
    while pending:
        where, value = pending.pop()
        if isinstance(value, str):
            check_text(where or 'body', value)
        elif isinstance(value, dict):
            for key, item in value.items():
                place = '{}.{}'.format(where, key) if where else key
                check_text(place, key)
                pending.append((place, item))
        elif isinstance(value, list):
            pending.extend(('{}[{}]'.format(where, index), item)
                           for index, item in enumerate(value))


def _parse_uuid(name, value):
    if isinstance(value, uuid.UUID):
        return value
    if not isinstance(value, str):
        raise _bad(name, value, 'a uuid')
    try:
        return uuid.UUID(value.strip())
    except ValueError:
        raise _bad(name, value, 'a uuid') from None


def target_field(field):
    """The field whose type a value must have: an FK takes its target key's type."""
    while isinstance(field, peewee.ForeignKeyField):
        field = field.rel_field
    return field


def is_text(field):
    """Whether a field (or the key an FK points at) holds text."""
    return isinstance(target_field(field), (peewee.CharField, peewee.TextField))


def is_temporal(field):
    """Whether a field is a date or a datetime."""
    return isinstance(field, (peewee.DateTimeField, peewee.DateField))


def coerce(name, field, value, source='body'):
    """Convert ``value`` (a JSON value, or a query-string value when ``source='query'``) to
    what ``field`` stores; InputError names ``name`` when it does not fit. A JSON null is
    NULL on a nullable column and an error otherwise (D14)."""
    return coercer(field)(name, value, source)


_COERCERS = {}


def coercer(field):
    """:func:`coerce` for one field, its type looked up once: ``f(name, value, source)``
    (a batch of rows converts the same fields thousands of times)."""
    # keyed by identity: a peewee field's == builds an SQL expression (always true)
    found = _COERCERS.get(id(field))
    if found is None or found[0] is not field:
        found = _COERCERS[id(field)] = (field, _make_coercer(field))
    return found[1]


def _make_coercer(field):
    parse = _parser(target_field(field))
    nullable = field.null

    def run(name, value, source='body'):
        if value is None:
            if nullable:
                return None
            raise InputError('{!r} may not be null'.format(name))
        return parse(name, value, source)
    return run


def column_coercer(field):
    """:func:`coerce` of body values for a whole column: ``f(name, values)``, the list of
    coerced values, or InputError for the first one in the list that does not fit. The
    common columns (JSON integers in range, strings that need no conversion, plain ISO
    times) are checked a column at a time by C code; any other goes value by value."""
    found = _COLUMN_COERCERS.get(id(field))
    if found is None or found[0] is not field:
        found = _COLUMN_COERCERS[id(field)] = (field, _make_column_coercer(field))
    return found[1]


_COLUMN_COERCERS = {}


def _make_column_coercer(field):
    one = coercer(field)
    fast = _column_check(target_field(field))

    def run(name, values):
        done = fast(values) if values else None
        if done is None:
            done = [one(name, value, 'body') for value in values]
        return done
    return run


def _column_check(target):
    """``fast(values)``: the coerced column when every value is of the common kind (which
    coerces to itself, or for times to what :func:`iso_column` makes), else None. The
    types are tested in :func:`_parser`'s order."""
    if isinstance(target, peewee.DateTimeField):
        def times(values):
            found = iso_column(values)
            return None if found is None else found[0]
        return times
    if isinstance(target, (peewee.DateField, peewee.BooleanField)):
        return lambda values: None
    if isinstance(target, (peewee.IntegerField, peewee.AutoField)):
        low, high = BIGINT_RANGE if isinstance(target, peewee.BigIntegerField) else INT_RANGE

        def ints(values):   # bool is a type of its own: a JSON true is not taken for 1
            if set(map(type, values)) == {int} and low <= min(values) and max(values) <= high:
                return values
            return None
        return ints
    if isinstance(target, (peewee.CharField, peewee.TextField)):
        longest = MAX_CHAR if isinstance(target, peewee.CharField) else None

        def texts(values):
            if set(map(type, values)) != {str} or longest and max(map(len, values)) > longest:
                return None
            joined = ''.join(values)   # check_text of every value at once
            if '\x00' in joined or not (joined.isascii() or _encodes(joined)):
                return None
            return values
        return texts
    return lambda values: None


def _encodes(text):
    try:
        text.encode('utf-8')
    except UnicodeEncodeError:
        return False
    return True


def iso_column(values):
    """A column of plain ISO 8601 times (``YYYY-MM-DDTHH:MM:SS``, or a space for the ``T``;
    no fraction, no offset), checked and converted a column at a time: ``(datetimes, texts)``,
    ``texts`` being what SQLite stores for each (``str()`` of the datetime). None when any
    value has another form: :func:`parse_datetime` decides those value by value (for these
    it gives the same datetimes)."""
    count = len(values)
    if not count or set(map(type, values)) != {str} or set(map(len, values)) != {19}:
        return None
    joined = '\n'.join(values)   # value k starts at 20 k
    for offset, mark in ((4, '-'), (7, '-'), (13, ':'), (16, ':')):
        if joined[offset::20] != mark * count:
            return None
    middle = joined[10::20]
    if middle.count('T') + middle.count(' ') != count:
        return None
    try:   # every other character must be an ASCII digit for these to parse
        stamps = list(map(datetime.datetime.fromisoformat, values))
    except ValueError:
        return None
    return stamps, joined.replace('T', ' ').split('\n')


def _parser(target):  # pylint: disable=too-many-return-statements
    """``parse(name, value, source)`` for a non-null value of ``target``'s type."""
    if isinstance(target, peewee.DateTimeField):
        return parse_datetime
    if isinstance(target, peewee.DateField):
        return lambda name, value, source: parse_datetime(name, value, source).date()
    if isinstance(target, peewee.BooleanField):
        return lambda name, value, _source: parse_bool(name, value)
    if isinstance(target, (peewee.IntegerField, peewee.AutoField)):
        bounds = BIGINT_RANGE if isinstance(target, peewee.BigIntegerField) else INT_RANGE
        low, high = bounds

        def parse_int(name, value, _source):
            if type(value) is int and low <= value <= high:  # pylint: disable=unidiomatic-typecheck
                return value   # the common case: a JSON integer in range (bool is excluded)
            return _parse_int(name, value, bounds)
        return parse_int
    if isinstance(target, peewee.FloatField):
        return lambda name, value, _source: _parse_float(name, value)
    if isinstance(target, peewee.UUIDField):
        return lambda name, value, _source: _parse_uuid(name, value)
    if isinstance(target, peewee.CharField):
        return lambda name, value, _source: _parse_text(name, value, MAX_CHAR)
    if isinstance(target, peewee.TextField):
        return lambda name, value, _source: _parse_text(name, value, None)
    raise AssertionError('no coercion for {!r}'.format(target))  # a model the table forgot

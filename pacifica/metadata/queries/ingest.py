"""``PUT /ingest``: one upload (a transaction, its files and key/values) in ONE database
transaction (spec 13 with the section 18 fixes).

The document is validated completely before the database is touched, so a bad entry
anywhere is a 400 naming that entry and nothing is written. The database work is set based:
existence checks, key/value get-or-create and the inserts each take a constant number of
statements however many files and pairs the document holds (larger documents only add
statements per chunk of bind parameters). Events are returned, to be sent after the commit.
"""
import datetime
import hashlib
import numbers
import operator
import re

from dateutil import parser as date_parser

from pacifica.common.database import family_of, peewee

from ..events import DocumentEvent, Event
from ..objects import BY_NAME
from ..orm import (DB, Files, Instruments, Keys, Projects, Transactions, TransSIP, Users,
                   Values, utc_now)
from . import InputError
from .coerce import iso_column
from .write import (DUPLICATE_MESSAGE, Batch, _advance_sequence, insert_batches, insert_rows,
                    present, transaction)

TRANSACTION_PARTS = ('Transactions._id', 'Transactions.submitter', 'Transactions.project',
                     'Transactions.instrument')
FILE_KEYS = ('_id', 'name', 'subdir', 'ctime', 'mtime', 'size', 'mimetype', 'hashtype',
             'hashsum')
FILE_COLUMNS = ('id', 'name', 'subdir', 'ctime', 'mtime', 'size', 'mimetype', 'hashtype',
                'hashsum')   # the files columns an entry gives, in FILE_KEYS order
# Upstream's list, with the real "multipart/" (upstream only had the typo "mulitpart/",
# which is kept so documents that passed upstream still pass).
MIME_PREFIXES = ('application/', 'audio/', 'font/', 'example/', 'image/', 'message/',
                 'model/', 'multipart/', 'mulitpart/', 'text/', 'video/')
MAX_TEXT = 255
MIN_YEAR = 1900          # file times before this are refused
HEX = re.compile(r'[0-9a-fA-F]+')
# a zone-less ISO 8601 date and time, which datetime.fromisoformat reads as dateutil does
PLAIN_ISO = re.compile(r'\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?)?')
MAX_BIGINT = 2 ** 63 - 1
IN_CHUNK = 5000          # ids bound in one IN list
SQL_VARIABLES = 30000    # bind parameters in one INSERT (SQLite allows 32766)


def _digest_sizes():
    """Hash names hashlib builds with a fixed digest size -> hex length."""
    sizes = {}
    for name in hashlib.algorithms_available:
        try:
            digest = hashlib.new(name)
            if name.startswith('shake'):
                continue  # variable-length digests cannot be checked
            sizes[name] = digest.digest_size * 2
        except (ValueError, TypeError):
            continue
    return sizes


HEX_LENGTHS = _digest_sizes()


class Document:
    """A validated ingest document."""

    def __init__(self):
        self.transaction_id = None
        self.submitter = None
        self.project = None
        self.instrument = None
        self.trans_kv = []     # (key, value) in document order, duplicates removed
        self.files = {}        # the files rows: FILE_COLUMNS name -> values, in document order
        self.file_kv = []      # (file_id, key, value)


def _where(index, entry):
    return 'entry {} ({})'.format(index, entry.get('destinationTable'))


def _need(index, entry, key):
    if key not in entry:
        raise InputError('{} has no {!r}'.format(_where(index, entry), key))
    return entry[key]


def _int(index, entry, key):
    value = _need(index, entry, key)
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise InputError('{}: {!r} must be an integer, got {!r}'.format(
            _where(index, entry), key, value))
    try:
        number = int(value)
    except ValueError:
        raise InputError('{}: {!r} must be an integer, got {!r}'.format(
            _where(index, entry), key, value)) from None
    if not 0 <= number <= MAX_BIGINT:
        raise InputError('{}: {!r} is out of range: {}'.format(_where(index, entry), key, value))
    return number


def _text(index, entry, key):
    """A JSON scalar stored as text (``str()`` as upstream: 9606 -> "9606", true -> "True")."""
    value = _need(index, entry, key)
    if isinstance(value, (dict, list)) or value is None:
        raise InputError('{}: {!r} must be a string or number, got {}'.format(
            _where(index, entry), key, 'null' if value is None else type(value).__name__))
    text = str(value)
    if len(text) > MAX_TEXT:
        raise InputError('{}: {!r} is {} characters long; the limit is {}'.format(
            _where(index, entry), key, len(text), MAX_TEXT))
    return text


def parse_time(value):
    """A file time: a Unix epoch number (UTC) or a date string. Named zones (``PST``) are
    ignored and numeric offsets converted to UTC, as upstream did. Raises ValueError."""
    if isinstance(value, bool):
        raise ValueError('not a time')
    if isinstance(value, numbers.Real):
        stamp = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
        return stamp.replace(tzinfo=None, microsecond=0)
    if not isinstance(value, str):
        raise ValueError('not a time')
    if PLAIN_ISO.fullmatch(value):
        try:
            return datetime.datetime.fromisoformat(value).replace(microsecond=0)
        except ValueError:
            pass   # "2020-02-30", hour 24 ...: dateutil decides, and says why
    # tzinfos maps every zone name to None, so "PST" is dropped silently (upstream kept the
    # wall clock), while "-08:00" still makes an aware value.
    parsed = date_parser.parse(value, tzinfos=lambda name, offset: offset)
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(datetime.timezone.utc).replace(tzinfo=None)
    return parsed.replace(microsecond=0)


def _invalid(where, detail):
    """The error for a file entry; ``where`` is (file id, entry index, entry)."""
    fid, index, entry = where
    return InputError('Invalid metadata for file {} ({}): {}'.format(
        fid, _where(index, entry), detail))


def _file(index, entry):
    fid = _int(index, entry, '_id')
    for key in FILE_KEYS:
        if key not in entry:
            _need(index, entry, key)
    where = (fid, index, entry)
    mimetype, hashtype, hashsum = entry['mimetype'], entry['hashtype'], entry['hashsum']
    if not isinstance(mimetype, str) or not mimetype.startswith(MIME_PREFIXES):
        raise _invalid(where, 'mimetype {!r} is not a known media type'.format(mimetype))
    if not isinstance(hashtype, str) or hashtype not in HEX_LENGTHS:
        raise _invalid(where, 'hashtype {!r} is not one of {}'.format(
            hashtype, ', '.join(sorted(HEX_LENGTHS))))
    if not isinstance(hashsum, str) or len(hashsum) != HEX_LENGTHS[hashtype]:
        raise _invalid(where, 'hashsum must be {} hex digits for {}'.format(
            HEX_LENGTHS[hashtype], hashtype))
    if not HEX.fullmatch(hashsum):
        # int(x, 16) would take "0x..", "_", a sign or spaces: the proxy could never serve it
        raise _invalid(where, 'hashsum {!r} is not plain hexadecimal'.format(hashsum))
    times = {}
    for key in ('ctime', 'mtime'):
        try:
            times[key] = parse_time(entry[key])
        except (ValueError, OverflowError, OSError):
            raise _invalid(where, '{} {!r} is not a date'.format(key, entry[key])) from None
        if times[key].year < MIN_YEAR:
            # a year-1 time turns into year 0 in a western reporting zone: refused at the
            # door rather than stored to trouble every report that meets it
            raise _invalid(where, '{} {!r} is before {}'.format(key, entry[key], MIN_YEAR))
    size = entry['size']
    try:
        if isinstance(size, bool) or not isinstance(size, (numbers.Real, str)):
            raise ValueError(size)
        size = int(size)
    except (ValueError, OverflowError):
        raise _invalid(where, 'size {!r} is not a number'.format(entry['size'])) from None
    if not -1 <= size <= MAX_BIGINT:
        raise _invalid(where, 'size {} is out of range'.format(size))
    return {'id': fid, 'name': _text(index, entry, 'name'),
            'subdir': _text(index, entry, 'subdir'), 'ctime': times['ctime'],
            'mtime': times['mtime'], 'size': size, 'mimetype': _text(index, entry, 'mimetype'),
            'hashtype': hashtype, 'hashsum': hashsum}


def _ints(values, low, high):
    return set(map(type, values)) == {int} and low <= min(values) and max(values) <= high


def _texts(values):
    return set(map(type, values)) == {str} and max(map(len, values)) <= MAX_TEXT


def _times(values):
    """:func:`parse_time` of a column of plain ISO times or of whole epoch seconds, at and
    after MIN_YEAR; None when any value is of another kind, or out of range."""
    found = iso_column(values)
    if found is not None:
        stamps = found[0]
    elif set(map(type, values)) == {int}:
        try:
            stamps = [datetime.datetime.fromtimestamp(value, datetime.timezone.utc).replace(
                tzinfo=None) for value in values]
        except (OverflowError, OSError, ValueError):
            return None
    else:
        return None
    return stamps if min(stamps).year >= MIN_YEAR else None


def _file_columns(entries):
    """The rows of the Files ``entries`` as columns (FILE_COLUMNS) when every entry is of
    the common kind, checked a column at a time: integer ids and sizes, text of at most
    MAX_TEXT characters, one known hash type with hex digests of its length, plain ISO or
    whole epoch times. None when any is not: then :func:`_file` decides entry by entry,
    and names the first bad one (so does it for a repeated id)."""
    if not entries:
        return {name: [] for name in FILE_COLUMNS}
    try:
        raw = [list(map(operator.itemgetter(key), entries)) for key in FILE_KEYS]
    except KeyError:
        return None
    ids, names, subdirs, ctimes, mtimes, sizes, mimetypes, hashtypes, hashsums = raw
    if not (_ints(ids, 0, MAX_BIGINT) and len(set(ids)) == len(ids) and
            _ints(sizes, -1, MAX_BIGINT) and _texts(names) and _texts(subdirs) and
            _texts(mimetypes) and all(map(operator.methodcaller('startswith', MIME_PREFIXES),
                                          mimetypes)) and
            set(map(type, hashtypes)) == {str} and len(set(hashtypes)) == 1 and
            set(map(type, hashsums)) == {str}):
        return None
    length = HEX_LENGTHS.get(hashtypes[0])   # None for an unknown hash type
    if set(map(len, hashsums)) != {length} or not HEX.fullmatch(''.join(hashsums)):
        return None
    ctimes, mtimes = _times(ctimes), _times(mtimes)
    if ctimes is None or mtimes is None:
        return None
    return dict(zip(FILE_COLUMNS, (ids, names, subdirs, ctimes, mtimes, sizes, mimetypes,
                                   hashtypes, hashsums)))


def parse(body):
    """Validate an ingest document; a :class:`Document` or InputError naming the entry."""
    if not isinstance(body, list) or not body:
        raise InputError('an ingest document is a non-empty JSON array of entries')
    doc = Document()
    parts = {}
    trans_kv, file_ids, file_kv = {}, set(), {}
    # the file entries are checked a column at a time when they can be; else one by one in
    # the loop below, in document order with the others
    files = _file_columns([entry for entry in body if isinstance(entry, dict) and
                           entry.get('destinationTable') == 'Files'])
    rows = []
    for index, entry in enumerate(body):
        if not isinstance(entry, dict):
            raise InputError('entry {} is not a JSON object'.format(index))
        table = entry.get('destinationTable')
        if table in TRANSACTION_PARTS:
            # the first entry wins (pacifica-ingest appends Transactions._id last)
            if table not in parts:
                parts[table] = (index, entry, _need(index, entry, 'value'))
        elif table == 'TransactionKeyValue':
            pair = (_text(index, entry, 'key'), _text(index, entry, 'value'))
            trans_kv.setdefault(pair, index)
        elif table == 'Files' and files is None:
            row = _file(index, entry)
            if row['id'] in file_ids:
                raise InputError('{}: file _id {} appears twice in the document'.format(
                    _where(index, entry), row['id']))
            file_ids.add(row['id'])
            rows.append(row)
        elif table == 'FileKeyValue':
            triple = (_int(index, entry, 'file_id'), _text(index, entry, 'key'),
                      _text(index, entry, 'value'))
            file_kv.setdefault(triple, index)
    missing = [name for name in TRANSACTION_PARTS if name not in parts]
    if missing:
        raise InputError('the document has no {} entry'.format(' or '.join(missing)))
    doc.transaction_id = _int(*parts['Transactions._id'][:2], 'value')
    doc.submitter = _int(*parts['Transactions.submitter'][:2], 'value')
    doc.instrument = _int(*parts['Transactions.instrument'][:2], 'value')
    doc.project = _text(*parts['Transactions.project'][:2], 'value')
    doc.trans_kv = list(trans_kv)
    doc.file_kv = list(file_kv)
    doc.files = files if files is not None else {
        name: [row[name] for row in rows] for name in FILE_COLUMNS}
    return doc


def _chunks(items, size):
    for start in range(0, len(items), size):
        yield items[start:start + size]


def _existing_ids(model, ids):
    """The ids of ``model`` rows (live or soft-deleted) among ``ids``."""
    return present(model, model.id, ids)


def _check_references(doc):
    """Submitter, instrument and project must exist and be live: one statement."""
    checks = ((Users, doc.submitter, 'Transactions.submitter', 'user'),
              (Instruments, doc.instrument, 'Transactions.instrument', 'instrument'),
              (Projects, doc.project, 'Transactions.project', 'project'))
    param = DB.obj.param
    sql = ' UNION ALL '.join(
        'SELECT {} FROM "{}" WHERE "id" = {} AND "deleted" IS NULL'.format(
            position, model._meta.table_name, param)  # pylint: disable=protected-access
        for position, (model, _, _, _) in enumerate(checks))
    present = {row[0] for row in DB.obj.execute_sql(sql, [c[1] for c in checks]).fetchall()}
    for position, (_, ident, entry, noun) in enumerate(checks):
        if position not in present:
            raise InputError('{} {!r} names no existing {}'.format(entry, ident, noun))


def vocabulary(model, column, texts, now):
    """Get-or-create ``texts`` in keys/values: one SELECT, one multi-row INSERT for the
    missing ones, one SELECT for their ids. Live rows only (a soft-deleted key is not
    reused, spec 18.12); the lowest id wins where a text is stored twice."""
    field = getattr(model, column)
    texts = sorted(set(texts))
    ids = {}

    def load(wanted):
        for chunk in _chunks(wanted, IN_CHUNK):
            rows = model.select(field, model.id).where(
                field.in_(chunk) & model.deleted.is_null()).order_by(model.id.desc()).tuples()
            ids.update(rows)   # descending: the lowest id is written last and wins

    load(texts)
    missing = [text for text in texts if text not in ids]
    if missing:
        # display_name "" as upstream's ingest and tkvupload leave it
        rows = [{column: text, 'display_name': '', 'description': '', 'encoding': 'UTF8',
                 'created': now, 'updated': now} for text in missing]
        for chunk in _chunks(rows, SQL_VARIABLES // 6):
            model.insert_many(chunk).execute()
        load(missing)
    return ids


def _insert(name, rows):
    insert_rows(BY_NAME[name], rows, keys=False)


def store(doc):
    """Write ``doc`` in one transaction; returns the events to send after the commit."""
    now = utc_now()
    tid = doc.transaction_id
    with transaction():
        if _existing_ids(Transactions, [tid]):
            raise InputError(DUPLICATE_MESSAGE.format(tid))
        _check_references(doc)
        file_ids = doc.files['id']
        clash = _existing_ids(Files, file_ids)
        if clash:
            raise InputError(DUPLICATE_MESSAGE.format(','.join(str(i) for i in sorted(clash))))
        wanted = {fid for fid, _, _ in doc.file_kv} - set(file_ids)
        unknown = wanted - _existing_ids(Files, wanted) if wanted else set()
        if unknown:
            raise InputError('FileKeyValue entries name files that do not exist: {}'.format(
                ', '.join(str(i) for i in sorted(unknown))))
        keys = vocabulary(Keys, 'key', [k for k, _ in doc.trans_kv] +
                           [k for _, k, _ in doc.file_kv], now)
        values = vocabulary(Values, 'value', [v for _, v in doc.trans_kv] +
                             [v for _, _, v in doc.file_kv], now)

        Transactions.insert(id=tid, created=now, updated=now).execute()
        TransSIP.insert(id=tid, submitter=doc.submitter, instrument=doc.instrument,
                        project=doc.project, created=now, updated=now).execute()
        tkv = [{'transaction': tid, 'key': keys[k], 'value': values[v],
                'created': now, 'updated': now} for k, v in doc.trans_kv]
        _insert('trans_key_value', tkv)
        count = len(file_ids)
        if count:
            insert_batches(BY_NAME['files'], [Batch(dict(
                doc.files, transaction=[tid] * count, encoding=['UTF8'] * count,
                created=[now] * count, updated=[now] * count))], keys=False)
        fkv = [{'file': fid, 'key': keys[k], 'value': values[v], 'created': now,
                'updated': now} for fid, k, v in doc.file_kv]
        _insert('file_key_value', fkv)
        if family_of(DB.obj) == 'postgresql':
            # explicit ids: move the sequences past them so generic PUTs cannot collide
            _advance_sequence(BY_NAME['transactions'])
            if file_ids:
                _advance_sequence(BY_NAME['files'])
    events = [
        Event('transactions', 'insert', [{'id': tid}]),
        Event('transsip', 'insert', [{'id': tid}]),
        Event('trans_key_value', 'insert', [
            {'transaction': tid, 'key': row['key'], 'value': row['value']} for row in tkv]),
        Event('files', 'insert', [{'id': fid} for fid in file_ids]),
        Event('file_key_value', 'insert', [
            {'file': row['file'], 'key': row['key'], 'value': row['value']} for row in fkv]),
    ]
    return events


def ingest(body):
    """Validate and store an ingest document; the events in sending order (the ORM inserts,
    then the ingest event whose data is the document as received)."""
    doc = parse(body)
    try:
        events = store(doc)
    except (peewee.IntegrityError, peewee.DataError) as exc:
        # a concurrent ingest took an id between the checks and the INSERTs
        raise InputError('the document conflicts with the stored data: {}'.format(
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__)) \
            from None
    events.append(DocumentEvent('ingest', body, {'_id': doc.transaction_id}))
    return events

"""``/transactioninfo`` (spec 6): uploads with their files, key/values and release state.

Everything about a set of transactions is fetched set-wise (:func:`records`): one query each
for the transsip rows with names, the files, the file key/values, the transaction key/values
and the releases, however many transactions are asked for. Section 18 fixes: "released" is
a live ``authorized_releaser`` row (its ``created`` is the release date everywhere), deleted
rows are hidden in every read and in every count and size, bad ids and dates are 400s.
"""
import datetime
import itertools
import json
import operator
import re
from collections import defaultdict

from dateutil import parser as date_parser

from pacifica.common import prepared
from pacifica.common.database import family_of, peewee

from ..orm import (DB, Citations, CitationTransaction, DOIEntries, DOIInfo, DOITransaction,
                   FileKeyValue, Files, Instruments, Keys, Projects, Relationships,
                   TransactionKeyValue, TransactionUser, TransSIP, Users, Values)
from . import jsontext
from .blocks import chunks, iso, live, user_blocks
from .reasons import fail

RELEASER = 'authorized_releaser'
MAX_ID_DIGITS = 18
DATE_ONLY = re.compile(r'^\s*\d{4}-\d{1,2}-\d{1,2}\s*$')
SEARCH_PARAMS = ('project', 'project_id', 'instrument', 'instrument_id', 'requesting_user',
                 'time_frame', 'start_time', 'start', 'end_time', 'end', 'transaction_id',
                 'user', 'user_id', 'person', 'person_id', 'submitter', 'submitter_id',
                 'item_count', 'page')
DEFAULT_ITEM_COUNT = 100
MAX_OFFSET = 2 ** 63 - 1   # OFFSET is a bigint in the database


def whole_number(text):
    """``text`` as an id when it is all digits (and fits a bigint), else None."""
    if isinstance(text, int) and not isinstance(text, bool):
        return text if 0 <= text < 10 ** MAX_ID_DIGITS else None
    if not isinstance(text, str):
        return None
    text = text.strip()
    if text.isascii() and text.isdigit() and len(text) <= MAX_ID_DIGITS:
        return int(text)
    return None


def convert(stamp, zone):
    """The aware datetime ``stamp`` as naive wall-clock time in ``zone``.

    Near the ends of the calendar the conversion can leave it (year 1 at +05:00 is year 0
    in UTC): the result is then clamped to the first or last representable instant, which
    is what such a value means as a bound, and the best a report can show of a stored one.
    """
    try:
        return stamp.astimezone(zone).replace(tzinfo=None)
    except OverflowError:
        return datetime.datetime.min if stamp.year < 5000 else datetime.datetime.max


def parse_when(text, name):
    """A permissive date/time (``2017-07-01``, ``Mon Jul 12 00:00:00 2017``) as naive UTC;
    a 400 naming ``name`` when it is not a date."""
    try:
        parsed = date_parser.parse(text)
    except (ValueError, OverflowError, TypeError):
        fail(400, 'Bad Request', '{} {!r} is not a date'.format(name, text))
    if parsed.tzinfo is not None:
        parsed = convert(parsed, datetime.timezone.utc)
    return parsed


def end_of_day(parsed):
    """The last microsecond of ``parsed``'s day (the calendar's last one at its end)."""
    try:
        return parsed + datetime.timedelta(days=1) - datetime.timedelta(microseconds=1)
    except OverflowError:
        return datetime.datetime.max


def end_bound(text, name):
    """An inclusive end: a bare date covers that whole day (spec 18.9)."""
    parsed = parse_when(text, name)
    if DATE_ONLY.match(text):
        parsed = end_of_day(parsed)
    return parsed


# -- the pieces of a transaction record ------------------------------------------------------
FILE_KEYS = ('created', 'updated', 'deleted', '_id', 'name', 'subdir', 'mimetype', 'ctime',
             'mtime', 'transaction', 'size', 'hashsum', 'hashtype', 'suspense_date', 'encoding')


def file_hash(row):
    """A file's JSON (the key order of ``Files.to_hash``) from a Files model row."""
    return dict(zip(FILE_KEYS, (
        iso(row.created), iso(row.updated), iso(row.deleted), row.id, row.name, row.subdir,
        row.mimetype, iso(row.ctime), iso(row.mtime), row.transaction_id, row.size,
        row.hashsum, row.hashtype, iso(row.suspense_date), row.encoding)))


def _iso_converter(field):
    """The ISO text of a stored date or time of ``field``, straight from the driver's value.

    SQLite hands the text peewee wrote, PostgreSQL the ``::text`` or ``to_char`` text of
    :func:`_selected`; ``fromisoformat`` (C code) parses either to the same value peewee's
    format loop would, at a fraction of its cost; anything else (a driver's datetime
    included) goes through the field's own conversion as before."""
    kind = datetime.date if isinstance(field, peewee.DateField) else datetime.datetime
    slow = field.python_value

    def convert(value):
        if value is None:
            return None
        if isinstance(value, str):
            try:
                parsed = kind.fromisoformat(value)
            except ValueError:
                parsed = None
            value = slow(value) if parsed is None or getattr(
                parsed, 'tzinfo', None) is not None else parsed
        return value.isoformat()
    return convert


PG_TIME_TEXT = 'YYYY-MM-DD HH24:MI:SS.US'
PG_DATE_TEXT = 'YYYY-MM-DD'


def _file_columns():
    return (Files.created, Files.updated, Files.deleted, Files.id, Files.name, Files.subdir,
            Files.mimetype, Files.ctime, Files.mtime, Files.transaction, Files.size,
            Files.hashsum, Files.hashtype, Files.suspense_date, Files.encoding)


def _is_date(field):
    return isinstance(field, (peewee.DateField, peewee.DateTimeField))


def _selected(field, family):
    """What is selected for ``field``: on PostgreSQL a date or time as text (psycopg2
    building datetime objects only for them to be formatted again cost more than the query
    itself, issue 13). ``family`` is that of :func:`_dates_family`: ``'postgresql-iso'``
    selects ``field::text`` (the server's own output, in ISO form under DateStyle ISO:
    ``to_char`` cost the file select of an upload more than all its other columns),
    ``'postgresql'`` a fixed ``to_char`` format, which does not depend on DateStyle."""
    if not family.startswith('postgresql') or not _is_date(field):
        return field
    if family == 'postgresql-iso':
        return peewee.Cast(field, 'text')
    text = PG_DATE_TEXT if isinstance(field, peewee.DateField) else PG_TIME_TEXT
    # the format written into the SQL, not bound: the statement's only parameters are its
    # ids, so its SQL is made once (by_transactions)
    return peewee.fn.to_char(field, peewee.SQL("'{}'".format(text)))


def _dates_family():
    """:func:`family_of` the database, but ``'postgresql-iso'`` for a PostgreSQL connection
    whose DateStyle is ISO (the default: ``YYYY-MM-DD HH:MM:SS[.ffffff]`` whatever the
    ordering part; the server reports each change, so this asks nothing of it)."""
    family = family_of(DB)
    if family == 'postgresql':
        status = getattr(DB.obj.connection(), 'get_parameter_status', None)
        if status is not None and (status('DateStyle') or '').startswith('ISO'):
            return 'postgresql-iso'
    return family


# where the text of a time in the form both databases write it, YYYY-MM-DD HH:MM:SS[.f...],
# has its separators (the ISO form differs only by the T at 10)
TIME_SEPARATORS = ((4, '-'), (7, '-'), (10, ' '), (13, ':'), (16, ':'))


def _isoformats(texts, parsed, kind):
    """``kind.isoformat`` of each of ``parsed``, the values ``kind.fromisoformat`` read from
    the strings ``texts``. Formatting 1,000 distinct times (an upload's ``mtime``) cost more
    than the rest of their column (issue 13); so when the texts all have one length and
    the databases' form (checked on every text at once: one slice per separator of all of
    them joined), the ISO texts are those texts themselves, a ``T`` for the space and the
    fraction's trailing zeros (PostgreSQL drops them) put back, by whole-string
    operations. Every other case is formatted as before."""
    count = len(texts)
    lengths = set(map(len, texts))
    width = lengths.pop() if len(lengths) == 1 else None
    if kind is datetime.datetime and (width == 19 or (
            width is not None and 21 <= width <= 26 and all(
                map(operator.attrgetter('microsecond'), parsed)))):
        joined = '\n'.join(texts)
        stride = width + 1
        separators = TIME_SEPARATORS + (((19, '.'),) if width > 19 else ())
        # (' 24:': a midnight some fromisoformat might read as the next day's)
        if ' 24:' not in joined and all(joined[at::stride] == char * count
                                         for at, char in separators):
            padding = '0' * (26 - width) if width > 19 else ''
            return (joined.replace(' ', 'T').replace('\n', padding + '\n') +
                    padding).split('\n')
    if kind is datetime.date and width == 10:
        joined = '\n'.join(texts)
        if joined[4::11] == joined[7::11] == '-' * count:
            return list(texts)
    return list(map(kind.isoformat, parsed))


def _iso_column(values, field, texts):
    """The ISO texts (``texts``: their JSON texts) of a column of stored dates or times of
    ``field``, exactly as :func:`_iso_converter` gives them one by one. Each distinct value
    is converted once (the rows of an upload share most of their times), in C-level maps
    while every one is zone-less text ``fromisoformat`` takes (:func:`_isoformats`), else
    one by one."""
    distinct = list(dict.fromkeys(values))
    if None in distinct:
        distinct.remove(None)
    kind = datetime.date if isinstance(field, peewee.DateField) else datetime.datetime
    try:
        parsed = list(map(kind.fromisoformat, distinct))   # TypeError if one is no str
        if kind is datetime.datetime and any(map(operator.attrgetter('tzinfo'), parsed)):
            raise ValueError('a time with a zone')
        isos = _isoformats(distinct, parsed, kind)
    except (TypeError, ValueError):
        isos = list(map(_iso_converter(field), distinct))
    if texts:
        isos = list(map(jsontext.quote, isos))
    if len(distinct) == len(values):   # no repeats, no NULLs: already in order
        return isos
    table = dict(zip(distinct, isos))
    table[None] = 'null' if texts else None
    return list(map(table.__getitem__, values))


def file_columns(rows, texts=False):
    """The rows of a :func:`file_select` as (the driver's columns, the JSON's columns),
    one list per column in :data:`FILE_KEYS` order; ``texts``: the JSON's columns as JSON
    texts (:mod:`.jsontext`). The cursor's values are used as the driver gives them, only
    dates converted, column by column: building Files model instances, or peewee's
    per-column conversion, cost more than the query (issue 13)."""
    columns = list(zip(*rows))
    if not columns:
        return [[] for _ in FILE_KEYS], [[] for _ in FILE_KEYS]
    converted = []
    for values, field in zip(columns, _file_columns()):
        if _is_date(field):
            converted.append(_iso_column(values, field, texts))
        else:
            converted.append(jsontext.column(values) if texts else values)
    return columns, converted


def file_json_rows(rows):
    """The JSON (a dict) of each of the rows of a :func:`file_select`."""
    _, columns = file_columns(rows)
    return list(map(dict, map(zip, itertools.repeat(FILE_KEYS), zip(*columns))))


def file_select(where):
    """The SELECT of Files columns in :data:`FILE_KEYS` order matching ``where`` (dates
    as :func:`file_json_rows` reads them)."""
    family = _dates_family()
    return Files.select(*(_selected(field, family) for field in _file_columns())).where(where)


def _files_of_select(tids):
    return (file_select(Files.transaction.in_(tids) & live(Files))
            .order_by(Files.transaction, Files.name, Files.id))


STATEMENTS = {}   # (query maker, database family, number of ids) -> its SQL


def by_transactions(make, tids):
    """The rows of the query ``make(tids)`` (its only parameters the ids ``tids``), with
    its SQL made once per number of ids (peewee's compiling of a query costs about what
    reading the 1,000 rows of an upload does), run as a prepared statement on PostgreSQL
    (:mod:`pacifica.common.prepared`: planning the joins cost more than running them)."""
    key = (make, _dates_family(), len(tids))
    sql = STATEMENTS.get(key)
    if sql is None:
        sql, params = make(list(tids)).sql()
        if params != list(tids):   # never seen: then do not keep it
            return prepared.execute(DB.obj, sql, params).fetchall()
        if len(STATEMENTS) < 256:
            STATEMENTS[key] = sql
    return prepared.execute(DB.obj, sql, list(tids)).fetchall()


def converted(rows, fields):
    """``rows`` of the driver's values as peewee's ``.tuples()`` gives them (each column
    through its ``field``'s ``python_value``): for the statements of a few rows."""
    converters = [field.python_value for field in fields]
    return [tuple(convert(value) for convert, value in zip(converters, row)) for row in rows]


def files_of(tids):
    """transaction id -> the JSON of its live Files rows, by name."""
    found = defaultdict(list)
    for chunk in chunks(set(tids)):
        for item in file_json_rows(by_transactions(_files_of_select, chunk)):
            found[item['transaction']].append(item)
    return found


VARIES = object()   # _constant: the values are not all one


def _constant(values):
    """The one value of ``values`` when they are all it and the JSON encoder writes them
    alike (one ``str``, ``None``, or one exact int: ``1 == True == 1.0``), else
    :data:`VARIES`."""
    first = values[0]
    if values.count(first) != len(values):
        return VARIES
    kinds = {type(first)} if first is None or isinstance(first, str) else set(
        map(type, values))
    return first if kinds in ({type(None)}, {str}, {int}) else VARIES


def _text_columns(rows):
    """The (non-empty) rows of a :func:`file_select` as (the driver's columns, the JSON
    texts of each column in :data:`FILE_KEYS` order, as :func:`file_columns` gives them).
    A column of one value (an upload's files share their ``deleted``, ``transaction``,
    ``hashtype``...) is its one JSON text instead of a list, for :func:`jsontext.folded`:
    it is encoded once and written into the template."""
    raw = list(zip(*rows))
    texts = []
    for values, field in zip(raw, _file_columns()):
        one = _constant(values)
        column = (one,) if one is not VARIES else values
        column = (_iso_column(column, field, True) if _is_date(field)
                  else jsontext.column(column))
        texts.append(column if one is VARIES else column[0])
    return raw, texts


def file_texts_of(tids, key_values=None):
    """transaction id -> (the ids of its live files by name, the JSON text of the object of
    their JSON by id) exactly as ``json.dumps`` writes it for :func:`files_of` (with
    ``key_values``, file id -> the JSON text of its list, each file's JSON ends with it)."""
    found = {}
    keys = FILE_KEYS if key_values is None else FILE_KEYS + ('key_values',)
    for chunk in chunks(set(tids)):
        rows = by_transactions(_files_of_select, chunk)
        if not rows:
            continue
        raw, texts = _text_columns(rows)
        if key_values is not None:
            texts.append(list(map(key_values.get, raw[3], itertools.repeat('[]'))))
        if len(set(raw[9])) == 1 and set(map(type, raw[3])) == {int}:
            # one upload, integer ids (distinct: the primary key): each entry is one
            # "<id>": {...} of a template
            entries = jsontext.folded(keys, texts, len(rows), prefix='"%s": ',
                                      first=list(map(int.__repr__, raw[3])))
            found[raw[9][0]] = (list(raw[3]), '{' + ', '.join(entries) + '}')
            continue
        rendered = jsontext.folded(keys, texts, len(rows))
        for tid, group in itertools.groupby(zip(raw[9], raw[3], rendered),
                                            operator.itemgetter(0)):
            group = list(group)
            fids = [fid for _, fid, _ in group]
            found[tid] = (fids, jsontext.keyed(list(map(str, fids)),
                                               [text for _, _, text in group]))
    return found


PAIR = jsontext.template(('key', 'value'))


def _lists_by_file(fids, pairs):
    """file id -> the JSON text of the list of its ``pairs`` (JSON texts, in row order,
    each row's file id in ``fids``, a file's rows together). When every file has the same
    number of pairs (an upload's files mostly do), that is one template for all of them
    (checked by comparing the ids of each file's first pair to those of its second...)."""
    count, files = len(fids), len(set(fids))
    width = count // files
    if width * files == count and all(fids[at::width] == fids[0::width]
                                      for at in range(1, width)):
        form = '[' + ', '.join(['%s'] * width) + ']'
        return dict(zip(fids[0::width], map(form.__mod__, zip(
            *(pairs[at::width] for at in range(width))))))
    return {fid: '[' + ', '.join(map(operator.itemgetter(1), group)) + ']'
            for fid, group in itertools.groupby(zip(fids, pairs), operator.itemgetter(0))}


def file_key_value_texts(tids):
    """file id -> the JSON text of its list of :func:`file_key_values` (column by column,
    as :func:`file_columns`)."""
    found = {}
    for chunk in chunks(set(tids)):
        rows = by_transactions(_file_key_value_select, chunk)
        if not rows:
            continue
        fids, keys, values = zip(*rows)
        if set(map(type, keys)) == set(map(type, values)) == {str}:
            # texts only: each distinct pair encoded once (an upload's files share them)
            table = dict.fromkeys(zip(keys, values))
            distinct = list(zip(*table))
            table = dict(zip(table, map(PAIR.__mod__, zip(
                jsontext.column(distinct[0]), jsontext.column(distinct[1])))))
            pairs = list(map(table.__getitem__, zip(keys, values)))
        else:
            pairs = list(map(PAIR.__mod__, zip(jsontext.column(keys),
                                                jsontext.column(values))))
        found.update(_lists_by_file(fids, pairs))
    return found


def _live_link(model):
    """:func:`live` for the rows of a link table reached from their parent rows. SQLite's
    planner (no statistics) would take the link table's ``deleted`` index and read every
    live link of the whole table, 14 ms at 62,000 file key/values for the same 2,000 that
    the parents' index finds in 2 ms: the unary ``+`` keeps it off that index."""
    if family_of(DB) == 'sqlite':
        return peewee.NodeList((peewee.SQL('+'), model.deleted), glue='').is_null()
    return live(model)


def _file_key_value_select(chunk):
    return (FileKeyValue.select(FileKeyValue.file, Keys.key, Values.value)
            .join(Keys).switch(FileKeyValue).join(Values).switch(FileKeyValue).join(Files)
            .where(Files.transaction.in_(chunk) & live(Files) & _live_link(FileKeyValue))
            .order_by(FileKeyValue.file, Keys.id, Values.id))


def file_key_values(tids):
    """file id -> [{"key", "value"}] over live links of the live files of transactions
    ``tids`` (selected through the files' transaction, so no list of file ids is bound)."""
    found = defaultdict(list)
    for chunk in chunks(set(tids)):
        # the driver's tuples straight (ids and texts need no conversion)
        for fid, key, value in by_transactions(_file_key_value_select, chunk):
            found[fid].append({'key': key, 'value': value})
    return found


KEY_VALUE_FIELDS = (TransactionKeyValue.transaction, Keys.key, Values.value)


def _key_value_select(tids):
    return (TransactionKeyValue.select(*KEY_VALUE_FIELDS)
            .join(Keys).switch(TransactionKeyValue).join(Values)
            .where(TransactionKeyValue.transaction.in_(tids) & live(TransactionKeyValue))
            .order_by(TransactionKeyValue.transaction, Keys.id, Values.id))


def key_values_of(tids):
    """transaction id -> {key: value} over live links (a key with several values keeps the
    last, as upstream: the JSON object cannot hold more)."""
    found = defaultdict(dict)
    for chunk in chunks(set(tids)):
        for tid, key, value in converted(by_transactions(_key_value_select, chunk),
                                         KEY_VALUE_FIELDS):
            found[tid][key] = value
    return found


RELEASE_FIELDS = (TransactionUser.transaction, TransactionUser.user, TransactionUser.created)


def _release_select(tids):
    return (TransactionUser.select(*RELEASE_FIELDS).join(Relationships)
            .where(TransactionUser.transaction.in_(tids) & live(TransactionUser) &
                   (Relationships.name == peewee.SQL("'{}'".format(RELEASER))))
            .order_by(TransactionUser.transaction, TransactionUser.created))


def releases_of(tids):
    """transaction id -> (user id, release date) of its live authorized_releaser row."""
    found = {}
    for chunk in chunks(set(tids)):
        for tid, uid, created in converted(by_transactions(_release_select, chunk),
                                           RELEASE_FIELDS):
            found[tid] = (uid, created)
    return found


def _release_fields(release):
    if release is None:
        return {'release_date': None, 'release_state': 'not_released',
                'release_state_display': 'Not Released'}
    return {'release_date': iso(release[1]), 'release_state': 'released',
            'release_state_display': 'Released'}


SIP_FIELDS = (TransSIP.id, TransSIP.created, TransSIP.updated, TransSIP.deleted,
              TransSIP.submitter, TransSIP.instrument, TransSIP.project, Users.first_name,
              Users.last_name, Projects.title, Instruments.display_name)


def _transsip_select(tids):
    return (TransSIP.select(*SIP_FIELDS)
            .join(Users, peewee.JOIN.LEFT_OUTER, on=(TransSIP.submitter == Users.id))
            .switch(TransSIP)
            .join(Projects, peewee.JOIN.LEFT_OUTER, on=(TransSIP.project == Projects.id))
            .switch(TransSIP)
            .join(Instruments, peewee.JOIN.LEFT_OUTER,
                  on=(TransSIP.instrument == Instruments.id))
            .where(TransSIP.id.in_(tids) & live(TransSIP)))


def transsip_rows(tids):
    """transaction id -> (created, updated, deleted, submitter id, instrument id, project id
    of its transsip row, submitter name, project title, instrument display name) for live
    transsip rows; one joined query."""
    found = {}
    for chunk in chunks(set(tids)):
        rows = converted(by_transactions(_transsip_select, chunk), SIP_FIELDS)
        for tid, *sip, first_name, last_name, title, display_name in rows:
            found[tid] = tuple(sip) + ('{} {}'.format(first_name, last_name), title,
                                       display_name)
    return found


def _with_key_values(row, fkv):
    """The file JSON ``row`` (made for this answer alone) with its ``key_values``."""
    row['key_values'] = fkv.get(row['_id'], [])
    return row


def records(tids, details=True, with_sip=False, files_text=False):
    """transaction id -> the record of spec 6.1 (``with_sip``: with the transsip row first;
    ``details``: with names and files). Only transactions with a live transsip row.
    ``files_text``: ``files`` is the JSON text of that object (:func:`file_texts_of`)."""
    sips = transsip_rows(tids)
    ids = list(sips)
    if files_text:
        rendered = file_texts_of(ids, file_key_value_texts(ids) if details else None)
        file_ids = {tid: fids for tid, (fids, _) in rendered.items()}
    else:
        files = files_of(ids)
        fkv = file_key_values(ids) if details else {}
        file_ids = {tid: [row['_id'] for row in rows] for tid, rows in files.items()}
    releases = releases_of(ids)
    result = {}
    for tid in tids:
        if tid not in sips or tid in result:
            continue
        (created, updated, deleted, submitter, instrument, project, submitter_name,
         project_name, instrument_name) = sips[tid]
        record = {}
        if with_sip:
            record.update({'created': iso(created), 'updated': iso(updated),
                           'deleted': iso(deleted), '_id': tid, 'submitter': submitter,
                           'instrument': instrument, 'project': project})
        record.update({
            'transaction_id': tid, 'submitter_id': submitter, 'project_id': project,
            'instrument_id': instrument, 'file_ids': file_ids.get(tid, []),
            'submitted': iso(created),
        })
        record.update(_release_fields(releases.get(tid)))
        if details:
            record.update({
                'submitter_name': submitter_name, 'project_name': project_name,
                'instrument_name': instrument_name,
                # always a list (upstream gave {} for a file without pairs, spec 18.3)
                'files': rendered.get(tid, (None, '{}'))[1] if files_text else {
                    str(row['_id']): _with_key_values(row, fkv)
                    for row in files.get(tid, [])},
            })
        result[tid] = record
    return result


# -- endpoints -------------------------------------------------------------------------------
def _by_id(trans_id, files_text=False):
    tid = whole_number(trans_id)
    if tid is None:
        fail(400, 'Invalid Transaction ID',
             'You must supply a numeric transaction id (/transactioninfo/by_id/<trans_id>).')
    found = records([tid], details=True, with_sip=True, files_text=files_text)
    if tid not in found:
        fail(404, 'Not Found', 'No Transaction with an ID of {} was found'.format(tid))
    return found[tid], key_values_of([tid]).get(tid, {})


def by_id(trans_id):
    """``/transactioninfo/by_id``."""
    record, key_values = _by_id(trans_id)
    record['key_values'] = key_values
    return record


def by_id_json(trans_id):
    """The response body ``json.dumps(by_id(trans_id)).encode('utf-8')``, byte for byte, at
    a fraction of its cost: the files are rendered as text straight from the driver's
    columns (:mod:`.jsontext`)."""
    record, key_values = _by_id(trans_id, files_text=True)
    files_json = record.pop('files')   # the last key: the rest is encoded as usual
    return '{}, "files": {}, "key_values": {}}}'.format(
        json.dumps(record)[:-1], files_json, json.dumps(key_values)).encode('utf-8')


def _files_tid(transaction_id):
    tid = whole_number(transaction_id)
    if tid is None:
        fail(400, 'Invalid Request Options',
             'You must supply a numeric transaction id (/transactioninfo/files/<id>).')
    return tid


def files(transaction_id):
    """``/transactioninfo/files``: the transaction's live files by name."""
    tid = _files_tid(transaction_id)
    return {str(row['_id']): row for row in files_of([tid]).get(tid, [])}


def files_json(transaction_id):
    """The response body ``json.dumps(files(transaction_id)).encode('utf-8')``, byte for
    byte (as :func:`by_id_json`)."""
    tid = _files_tid(transaction_id)
    return file_texts_of([tid]).get(tid, (None, '{}'))[1].encode('utf-8')


def last():
    """``/transactioninfo/last``."""
    latest = TransSIP.select(peewee.fn.MAX(TransSIP.id)).where(live(TransSIP)).scalar()
    return {'latest_transaction_id': latest}


def _int_value(params, name):
    value = whole_number(params[name]) if params[name] != '-1' else -1
    if value is None:
        fail(400, 'Bad Request', 'parameter {!r} must be an integer, got {!r}'.format(
            name, params[name]))
    return value


def _search_where(params):
    where = live(TransSIP)
    for names, field, numeric in ((('project', 'project_id'), TransSIP.project, False),
                                  (('instrument', 'instrument_id'), TransSIP.instrument, True),
                                  (('user', 'user_id', 'person', 'person_id', 'submitter',
                                    'submitter_id'), TransSIP.submitter, True),
                                  (('transaction_id',), TransSIP.id, True)):
        for name in names:
            if name not in params:
                continue
            value = _int_value(params, name) if numeric else params[name]
            if value not in (-1, '-1'):
                where &= field == value
    for name in ('start', 'start_time'):
        if name in params:
            where &= TransSIP.updated >= parse_when(params[name], name)
    for name in ('end', 'end_time'):
        if name in params:
            where &= TransSIP.updated <= end_bound(params[name], name)
    return where


def _count_param(params, name, default):
    if name not in params:
        return default
    value = whole_number(params[name])
    if value is None or value < 1:
        fail(400, 'Bad Request', 'parameter {!r} must be a positive integer, got {!r}'.format(
            name, params[name]))
    return value


def sizes_of(tids):
    """transaction id -> (live file count, their total size)."""
    found = {}
    for chunk in chunks(set(tids)):
        rows = (Files.select(Files.transaction, peewee.fn.COUNT(Files.id),
                             peewee.fn.SUM(Files.size))
                .where(Files.transaction.in_(chunk) & live(Files))
                .group_by(Files.transaction).tuples())
        for tid, count, size in rows:
            found[tid] = (count, int(size or 0))
    return found


def search(option, params):
    """``/transactioninfo/search``: filtered, paged (id descending) transaction records.
    A constant number of queries whatever the page size."""
    params = {name: value for name, value in params.items() if name in SEARCH_PARAMS}
    for name, value in params.items():
        if isinstance(value, list):
            fail(400, 'Bad Request', 'parameter {!r} was given {} times; give it once'.format(
                name, len(value)))
    if not params:
        fail(400, 'Invalid Request Options',
             'You must supply at least one of: {}'.format(', '.join(SEARCH_PARAMS)))
    details = option != 'list'
    item_count = _count_param(params, 'item_count', DEFAULT_ITEM_COUNT)
    page = _count_param(params, 'page', 1)
    offset = item_count * (page - 1)
    if offset > MAX_OFFSET:
        fail(400, 'Bad Request', "'item_count' times 'page' is beyond the last row "
             '(the offset must fit a bigint)')
    where = _search_where(params)
    total = TransSIP.select().where(where).count()
    page_rows = list(TransSIP.select(TransSIP.id, TransSIP.submitter, TransSIP.updated)
                     .where(where).order_by(TransSIP.id.desc())
                     .limit(item_count).offset(offset).tuples())
    tids = [tid for tid, _, _ in page_rows]
    found = records(tids, details=details)
    sizes = sizes_of(tids)
    kvs = key_values_of(tids)
    transactions, times = {}, {}
    for tid, submitter, updated in page_rows:
        count, size = sizes.get(tid, (0, 0))
        transactions[str(tid)] = {
            'file_size_bytes': size, 'file_count': count,
            'status': {'trans_id': tid, 'person_id': submitter, 'step': 6,
                       'message': 'verified', 'status': 'success'},
            'metadata': found[tid], 'kv_pairs': kvs.get(tid, {}),
        }
        times[str(tid)] = iso(updated)
    return {'transactions': transactions, 'times': times, 'total_count': total,
            'items_per_page': item_count, 'page': page, 'offset': offset}


# -- release state ---------------------------------------------------------------------------
def _doi_entries(release_uuids):
    """transaction_user uuid -> [doi entry] (with its doiinfo metadata)."""
    found = defaultdict(list)
    if not release_uuids:
        return found
    rows = list(DOITransaction.select(DOITransaction.transaction, DOITransaction.created,
                                      DOIEntries.doi, DOIEntries.status, DOIEntries.released,
                                      DOIEntries.site_url)
                .join(DOIEntries).where(DOITransaction.transaction.in_(list(release_uuids)) &
                                        live(DOITransaction) & live(DOIEntries))
                .order_by(DOITransaction.created, DOIEntries.doi).tuples())
    info = defaultdict(dict)
    dois = [row[2] for row in rows]
    for chunk in chunks(set(dois)):
        for doi, key, value in DOIInfo.select(DOIInfo.doi, DOIInfo.key, DOIInfo.value).where(
                DOIInfo.doi.in_(chunk) & live(DOIInfo)).order_by(DOIInfo.key).tuples():
            info[doi][key] = value
    for release, created, doi, status, released, site_url in rows:
        found[release].append({'doi_status': status, 'is_released': released,
                               'doi_reference': doi, 'site_url': site_url,
                               'submission_date': iso(created), 'metadata': info[doi]})
    return found


def _citations(release_uuids):
    found = defaultdict(list)
    if not release_uuids:
        return found
    rows = (CitationTransaction.select(CitationTransaction.transaction, Citations.id,
                                       Citations.article_title, Citations.doi_reference)
            .join(Citations).where(CitationTransaction.transaction.in_(list(release_uuids)) &
                                   live(CitationTransaction) & live(Citations))
            .order_by(Citations.id).tuples())
    for release, cid, title, doi in rows:
        found[release].append({'citation_id': cid, 'title': title, 'doi_reference': doi})
    return found


def release_state(ids):
    """``/transactioninfo/release_state``: per transaction id, who released it and its DOIs
    and citations, or "not released". A constant number of queries."""
    tids = []
    for item in ids:
        tid = whole_number(item)
        if tid is None:
            fail(400, 'Bad Request', 'transaction ids must be integers, got {!r}'.format(item))
        if tid not in tids:
            tids.append(tid)
    releases = {}
    for chunk in chunks(tids):
        rows = (TransactionUser.select(TransactionUser.transaction, TransactionUser.uuid,
                                       TransactionUser.user, TransactionUser.created)
                .join(Relationships)
                .where(TransactionUser.transaction.in_(chunk) & live(TransactionUser) &
                       (Relationships.name == RELEASER))
                .order_by(TransactionUser.created).tuples())
        for tid, uuid, uid, created in rows:
            releases[tid] = (uuid, uid, created)
    users = {}
    wanted = {uid for _, uid, _ in releases.values()}
    if wanted:
        rows = list(Users.select().where(Users.id.in_(list(wanted))))
        users = dict(zip([row.id for row in rows], user_blocks(rows, simple=True)))
    sizes = sizes_of(releases)
    dois = _doi_entries({uuid for uuid, _, _ in releases.values()})
    cites = _citations({uuid for uuid, _, _ in releases.values()})
    result = {}
    for tid in tids:
        if tid not in releases:
            continue
        uuid, uid, created = releases[tid]
        count, size = sizes.get(tid, (0, 0))
        result[str(tid)] = {
            'transaction': tid, 'user': users.get(uid), 'release_date': iso(created),
            'release_state': 'released', 'display_state': 'Released',
            'total_size_bytes': size, 'total_file_count': count,
            'release_doi_entries': dois.get(uuid) or None,
            'release_citations': cites.get(uuid) or None,
        }
    for tid in tids:
        if tid not in releases:
            result[str(tid)] = {'user': None, 'release_state': 'not_released',
                                'display_state': 'Not Released', 'transaction': tid}
    return result

"""``/transactioninfo`` (spec 6): uploads with their files, key/values and release state.

Everything about a set of transactions is fetched set-wise (:func:`records`): one query each
for the transsip rows with names, the files, the file key/values, the transaction key/values
and the releases, however many transactions are asked for. Section 18 fixes: "released" is
a live ``authorized_releaser`` row (its ``created`` is the release date everywhere), deleted
rows are hidden in every read and in every count and size, bad ids and dates are 400s.
"""
import datetime
import re
from collections import defaultdict

from dateutil import parser as date_parser

from pacifica.common.database import peewee

from ..orm import (DB, Citations, CitationTransaction, DOIEntries, DOIInfo, DOITransaction,
                   FileKeyValue, Files, Instruments, Keys, Projects, Relationships,
                   TransactionKeyValue, TransactionUser, TransSIP, Users, Values)
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

    PostgreSQL hands datetimes; SQLite hands the text peewee wrote, which ``fromisoformat``
    (C code) parses to the same value peewee's format loop would, at a fraction of its cost;
    anything else goes through the field's own conversion as before."""
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


def _file_columns():
    return (Files.created, Files.updated, Files.deleted, Files.id, Files.name, Files.subdir,
            Files.mimetype, Files.ctime, Files.mtime, Files.transaction, Files.size,
            Files.hashsum, Files.hashtype, Files.suspense_date, Files.encoding)


def file_json_rows(query):
    """Run ``query`` (a :func:`file_select`) and yield each file's JSON. The cursor's
    values are used as the driver gives them, only dates converted: building Files model
    instances, or peewee's per-column conversion, cost more than the query (issue 13)."""
    converters = {index: _iso_converter(field) for index, field in enumerate(_file_columns())
                  if isinstance(field, (peewee.DateField, peewee.DateTimeField))}
    for row in DB.obj.execute(query):
        values = list(row)
        for index, convert in converters.items():
            values[index] = convert(values[index])
        yield dict(zip(FILE_KEYS, values))


def file_select(where):
    """The SELECT of Files columns in :data:`FILE_KEYS` order matching ``where``."""
    return Files.select(*_file_columns()).where(where)


def files_of(tids):
    """transaction id -> the JSON of its live Files rows, by name."""
    found = defaultdict(list)
    for chunk in chunks(set(tids)):
        for item in file_json_rows(file_select(Files.transaction.in_(chunk) & live(Files))
                                   .order_by(Files.transaction, Files.name, Files.id)):
            found[item['transaction']].append(item)
    return found


def file_key_values(tids):
    """file id -> [{"key", "value"}] over live links of the live files of transactions
    ``tids`` (selected through the files' transaction, so no list of file ids is bound)."""
    found = defaultdict(list)
    for chunk in chunks(set(tids)):
        rows = (FileKeyValue.select(FileKeyValue.file, Keys.key, Values.value)
                .join(Keys).switch(FileKeyValue).join(Values).switch(FileKeyValue).join(Files)
                .where(Files.transaction.in_(chunk) & live(Files) & live(FileKeyValue))
                .order_by(FileKeyValue.file, Keys.id, Values.id).tuples())
        for fid, key, value in rows:
            found[fid].append({'key': key, 'value': value})
    return found


def key_values_of(tids):
    """transaction id -> {key: value} over live links (a key with several values keeps the
    last, as upstream: the JSON object cannot hold more)."""
    found = defaultdict(dict)
    for chunk in chunks(set(tids)):
        rows = (TransactionKeyValue.select(TransactionKeyValue.transaction, Keys.key,
                                           Values.value)
                .join(Keys).switch(TransactionKeyValue).join(Values)
                .where(TransactionKeyValue.transaction.in_(chunk) & live(TransactionKeyValue))
                .order_by(TransactionKeyValue.transaction, Keys.id, Values.id).tuples())
        for tid, key, value in rows:
            found[tid][key] = value
    return found


def releases_of(tids):
    """transaction id -> (user id, release date) of its live authorized_releaser row."""
    found = {}
    for chunk in chunks(set(tids)):
        rows = (TransactionUser.select(TransactionUser.transaction, TransactionUser.user,
                                       TransactionUser.created)
                .join(Relationships)
                .where(TransactionUser.transaction.in_(chunk) & live(TransactionUser) &
                       (Relationships.name == RELEASER))
                .order_by(TransactionUser.transaction, TransactionUser.created).tuples())
        for tid, uid, created in rows:
            found[tid] = (uid, created)
    return found


def _release_fields(release):
    if release is None:
        return {'release_date': None, 'release_state': 'not_released',
                'release_state_display': 'Not Released'}
    return {'release_date': iso(release[1]), 'release_state': 'released',
            'release_state_display': 'Released'}


def transsip_rows(tids):
    """transaction id -> (TransSIP row, submitter name, project title, instrument display
    name) for live transsip rows; one joined query."""
    found = {}
    for chunk in chunks(set(tids)):
        query = (TransSIP.select(TransSIP, Users.first_name, Users.last_name, Projects.title,
                                 Instruments.display_name)
                 .join(Users, peewee.JOIN.LEFT_OUTER, on=(TransSIP.submitter == Users.id))
                 .switch(TransSIP)
                 .join(Projects, peewee.JOIN.LEFT_OUTER, on=(TransSIP.project == Projects.id))
                 .switch(TransSIP)
                 .join(Instruments, peewee.JOIN.LEFT_OUTER,
                       on=(TransSIP.instrument == Instruments.id))
                 .where(TransSIP.id.in_(chunk) & live(TransSIP)).objects())
        for row in query:
            name = '{} {}'.format(row.first_name, row.last_name)
            found[row.id_id] = (row, name, row.title, row.display_name)
    return found


def records(tids, details=True, with_sip=False):
    """transaction id -> the record of spec 6.1 (``with_sip``: with the transsip row first;
    ``details``: with names and files). Only transactions with a live transsip row."""
    sips = transsip_rows(tids)
    ids = list(sips)
    files = files_of(ids)
    releases = releases_of(ids)
    fkv = file_key_values(ids) if details else {}
    result = {}
    for tid in tids:
        if tid not in sips or tid in result:
            continue
        sip, submitter_name, project_name, instrument_name = sips[tid]
        record = {}
        if with_sip:
            record.update({'created': iso(sip.created), 'updated': iso(sip.updated),
                           'deleted': iso(sip.deleted), '_id': tid,
                           'submitter': sip.submitter_id, 'instrument': sip.instrument_id,
                           'project': sip.project_id})
        record.update({
            'transaction_id': tid, 'submitter_id': sip.submitter_id,
            'project_id': sip.project_id, 'instrument_id': sip.instrument_id,
            'file_ids': [row['_id'] for row in files.get(tid, [])],
            'submitted': iso(sip.created),
        })
        record.update(_release_fields(releases.get(tid)))
        if details:
            record.update({
                'submitter_name': submitter_name, 'project_name': project_name,
                'instrument_name': instrument_name,
                # always a list (upstream gave {} for a file without pairs, spec 18.3)
                'files': {str(row['_id']): dict(row, key_values=fkv.get(row['_id'], []))
                          for row in files.get(tid, [])},
            })
        result[tid] = record
    return result


# -- endpoints -------------------------------------------------------------------------------
def by_id(trans_id):
    """``/transactioninfo/by_id``."""
    tid = whole_number(trans_id)
    if tid is None:
        fail(400, 'Invalid Transaction ID',
             'You must supply a numeric transaction id (/transactioninfo/by_id/<trans_id>).')
    found = records([tid], details=True, with_sip=True)
    if tid not in found:
        fail(404, 'Not Found', 'No Transaction with an ID of {} was found'.format(tid))
    record = found[tid]
    record['key_values'] = key_values_of([tid]).get(tid, {})
    return record


def files(transaction_id):
    """``/transactioninfo/files``: the transaction's live files by name."""
    tid = whole_number(transaction_id)
    if tid is None:
        fail(400, 'Invalid Request Options',
             'You must supply a numeric transaction id (/transactioninfo/files/<id>).')
    return {str(row['_id']): row for row in files_of([tid]).get(tid, [])}


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

"""``/fileinfo``, ``/tkvinfo`` and ``/tkvupload`` (spec 8-10): files by id, key/value and
time range, and key/value pairs of transactions.

Section 18 fixes: deleted rows are hidden, path segments are decoded once (by the server),
bad ids and dates are 400s, and ``/tkvupload/upload_entries`` is one transaction.
"""
import datetime

from pacifica.common.database import peewee

from ..orm import (Files, Keys, TransactionKeyValue, Transactions, TransSIP, Values, utc_now)
from .blocks import chunks, live
from .ingest import MAX_TEXT, vocabulary
from .reasons import fail
from .transactions import file_hash, key_values_of, parse_when, whole_number
from .write import transaction

EPOCH = datetime.datetime(1970, 1, 1)
ITEM_COLUMNS = {'instrument': TransSIP.instrument, 'project': TransSIP.project,
                'user': TransSIP.submitter}
SUBMITTED = ('submitted', 'submit', 'submit_time', 'submitted_date')
MODIFIED = ('modified', 'modified_time', 'modified_date')
CREATED = ('created', 'create', 'create_time', 'created_date')


def _id_list(body, what):
    if not isinstance(body, list):
        fail(400, 'Bad Request', 'the body must be a JSON array of {}'.format(what))
    ids = []
    for item in body:
        value = whole_number(item)
        if value is None:
            fail(400, 'Bad Request', '{!r} is not one of the {}'.format(item, what))
        ids.append(value)
    return ids


def file_details(body):
    """``POST /fileinfo/file_details``: path, size and hash of the listed files."""
    ids = _id_list(body, 'file ids')
    rows = []
    for chunk in chunks(set(ids)):
        rows.extend(Files.select().where(Files.id.in_(chunk) & live(Files)))
    if not rows:
        fail(404, 'Not Found', 'No files from the list {} were located'.format(body))
    rows.sort(key=lambda row: row.id)
    return [{'file_id': row.id,
             'relative_local_path': '{}/{}'.format(row.subdir.rstrip('/'), row.name),
             'file_size_bytes': row.size, 'hashtype': row.hashtype, 'hashsum': row.hashsum}
            for row in rows]


def earliest_latest(item_type, time_basis, body):
    """``POST /fileinfo/earliest_latest``: the time span of the listed objects' uploads."""
    if item_type not in ITEM_COLUMNS:
        fail(400, 'Invalid Query', 'item_type must be one of instrument, project, user; got '
             '{!r}'.format(item_type))
    basis = (time_basis or '').lower()
    if basis not in SUBMITTED + MODIFIED + CREATED:
        fail(400, 'Invalid Query', 'time_basis must be one of {}; got {!r}'.format(
            ', '.join(SUBMITTED + MODIFIED + CREATED), time_basis))
    column = ITEM_COLUMNS[item_type]
    if not isinstance(body, list) or not all(isinstance(item, (str, int)) and
                                             not isinstance(item, bool) for item in body):
        fail(400, 'Bad Request', 'the body must be a JSON array of {} ids'.format(item_type))
    ids = [str(item) for item in body] if item_type == 'project' else _id_list(
        body, '{} ids'.format(item_type))
    submitted = basis in SUBMITTED
    time_col = TransSIP.updated if submitted else (
        Files.mtime if basis in MODIFIED else Files.ctime)
    earliest = latest = None
    for chunk in chunks(set(ids)):
        if submitted:
            sel = TransSIP.select(peewee.fn.MIN(time_col), peewee.fn.MAX(time_col)).where(
                column.in_(chunk) & live(TransSIP))
        else:
            sel = (Files.select(peewee.fn.MIN(time_col), peewee.fn.MAX(time_col))
                   .join(TransSIP, on=(Files.transaction == TransSIP.id))
                   .where(column.in_(chunk) & live(TransSIP) & live(Files)))
        low, high = sel.tuples().get()
        low, high = _dt(low), _dt(high)
        if low is not None:
            earliest = low if earliest is None else min(earliest, low)
            latest = high if latest is None else max(latest, high)
    if earliest is None:
        fail(404, 'Not Found', 'Nothing matches the given URI')
    return {'earliest': earliest.strftime('%Y-%m-%d %H:%M:%S'),
            'latest': latest.strftime('%Y-%m-%d %H:%M:%S')}


def _dt(value):
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value


def files_for_keyvalue(key, value):
    """``GET /fileinfo/files_for_keyvalue``: the files of transactions tagged key=value."""
    if not key or value is None:
        fail(400, 'Bad Request', 'the path needs /<key>/<value>')
    key_id = Keys.select(Keys.id).where((peewee.fn.LOWER(Keys.key) == key.lower()) &
                                        live(Keys)).order_by(Keys.id).scalar()
    value_id = Values.select(Values.id).where((Values.value == value) & live(Values)).order_by(
        Values.id).scalar()
    if key_id is None or value_id is None:
        return []
    tagged = TransactionKeyValue.select(TransactionKeyValue.transaction).where(
        (TransactionKeyValue.key == key_id) & (TransactionKeyValue.value == value_id) &
        live(TransactionKeyValue))
    return [file_hash(row) for row in Files.select().where(
        Files.transaction.in_(tagged) & live(Files)).order_by(Files.id)]


def values_for_key(key, start_time=None, end_time=None):
    """``GET /tkvinfo/values_for_key``: value -> transaction ids for uploads created in
    ``[start, end)``."""
    if not key:
        fail(400, 'Bad Request', 'You must supply a key (/tkvinfo/values_for_key/<key>)')
    start = parse_when(start_time, 'start_time') if start_time else EPOCH
    end = parse_when(end_time, 'end_time') if end_time else \
        datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    if start >= end:
        fail(400, 'Bad Request', 'start_time {} is not before end_time {}'.format(
            start.isoformat(), end.isoformat()))
    rows = (TransactionKeyValue.select(Values.value, TransactionKeyValue.transaction)
            .join(Keys).switch(TransactionKeyValue).join(Values)
            .switch(TransactionKeyValue)
            .join(TransSIP, on=(TransactionKeyValue.transaction == TransSIP.id))
            .where((Keys.key == key) & live(Keys) & live(TransactionKeyValue) &
                   live(TransSIP) & (TransSIP.created >= start) & (TransSIP.created < end))
            .order_by(Values.id, TransactionKeyValue.transaction).tuples())
    found = {}
    for value, tid in rows:
        found.setdefault(value, []).append(tid)
    return found


def kv_for_transaction(transaction_id):
    """``GET /tkvinfo/kv_for_transaction``: key -> value of one transaction."""
    tid = whole_number(transaction_id)
    if tid is None:
        fail(400, 'Bad Request', 'You must supply a numeric transaction id '
             '(/tkvinfo/kv_for_transaction/<transaction_id>)')
    return key_values_of([tid]).get(tid, {})


def _upload_pairs(body):
    if not isinstance(body, dict):
        fail(400, 'Bad Request', 'the body must be a JSON object: transaction id -> '
             '{key: value}')
    pairs = []
    for tid_text, values in body.items():
        tid = whole_number(tid_text)
        if tid is None:
            fail(400, 'Bad Request', '{!r} is not a transaction id'.format(tid_text))
        if not isinstance(values, dict):
            fail(400, 'Bad Request', 'transaction {}: the value must be a JSON object of '
                 'key/value pairs'.format(tid))
        for key, value in values.items():
            if value is None or isinstance(value, (dict, list)):
                fail(400, 'Bad Request', 'transaction {}: the value of {!r} must be a string '
                     'or number'.format(tid, key))
            text = str(value)
            if len(key) > MAX_TEXT or len(text) > MAX_TEXT:
                fail(400, 'Bad Request', 'transaction {}: {!r} is longer than {} '
                     'characters'.format(tid, key, MAX_TEXT))
            pairs.append((tid, key, text))
    return pairs


def upload_entries(body):
    """``POST /tkvupload/upload_entries``: get-or-create the pairs, all in one transaction
    (a missing transaction is a 400 and nothing is written)."""
    pairs = list(dict.fromkeys(_upload_pairs(body)))
    if not pairs:
        return {'status': 'success'}
    now = utc_now()
    with transaction():
        tids = {tid for tid, _, _ in pairs}
        known = set()
        for chunk in chunks(tids):
            known.update(tid for (tid,) in Transactions.select(Transactions.id).where(
                Transactions.id.in_(chunk) & live(Transactions)).tuples())
        missing = sorted(tids - known)
        if missing:
            fail(400, 'Bad Request', 'no transaction with id {}'.format(
                ', '.join(str(t) for t in missing)))
        keys = vocabulary(Keys, 'key', [k for _, k, _ in pairs], now)
        values = vocabulary(Values, 'value', [v for _, _, v in pairs], now)
        existing = set()
        for chunk in chunks(list(known)):
            # soft-deleted links count as present (the composite key forbids a second row)
            existing.update(TransactionKeyValue.select(
                TransactionKeyValue.transaction, TransactionKeyValue.key,
                TransactionKeyValue.value).where(
                    TransactionKeyValue.transaction.in_(chunk)).tuples())
        rows = []
        for tid, key, value in pairs:
            triple = (tid, keys[key], values[value])
            if triple not in existing:
                existing.add(triple)
                rows.append({'transaction': tid, 'key': triple[1], 'value': triple[2],
                             'created': now, 'updated': now})
        for chunk in chunks(rows, 5000):
            TransactionKeyValue.insert_many(chunk).execute()
    return {'status': 'success'}

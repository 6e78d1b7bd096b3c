"""Reports over uploads (spec 6.5, 6.7, 7): ``/summaryinfo/*``, ``/transactioninfo/summary``
and ``/transactioninfo/multisearch``.

Reporting dates are local to one zone, America/Los_Angeles by default as upstream (the
``[reporting] timezone`` setting changes it). Every report is one joined query plus one
query per kind of name it shows, whatever the number of files: the database filters on real
datetime values (never text, so SQLite and PostgreSQL agree), Python buckets the rows by
local day.
"""
import calendar
import datetime

from dateutil import parser as date_parser

from pacifica.common.database import peewee

from ..orm import Files, InstrumentGroup, Instruments, Projects, TransSIP, Users
from .blocks import chunks, live
from .reasons import fail
from .transactions import DATE_ONLY, convert, end_bound, end_of_day, parse_when, whole_number

UTC = datetime.timezone.utc
OLDEST = datetime.datetime(1997, 1, 1)


def to_local(value, zone):
    """A stored naive-UTC datetime as naive wall-clock time in ``zone`` (clamped to the
    calendar: a row stored in year 1 still reads)."""
    return convert(value.replace(tzinfo=UTC), zone)


def to_utc(value, zone):
    """A naive wall-clock time in ``zone`` as naive UTC (clamped to the calendar)."""
    return convert(value.replace(tzinfo=zone), UTC)


def _ids(body, what, numeric):
    if not isinstance(body, list):
        fail(400, 'Bad Request', 'the body must be a JSON array of {}'.format(what))
    result = []
    for item in body:
        value = whole_number(item) if numeric else (
            str(item) if isinstance(item, (str, int)) and not isinstance(item, bool) else None)
        if value is None:
            fail(400, 'Bad Request', '{!r} is not one of the {}'.format(item, what))
        result.append(value)
    return result


# -- /summaryinfo/by_date ----------------------------------------------------------------------
TIME_BASES = {'creat': Files.ctime, 'modif': Files.mtime, 'submi': TransSIP.updated}
OBJECT_COLUMNS = {'instrument': TransSIP.instrument, 'project': TransSIP.project,
                  'user': TransSIP.submitter}


def _report_time(text, default, zone, end=False):
    """A by_date bound: local wall-clock in ``zone`` (a bare end date covers its whole day);
    unparseable text falls back to ``default`` as upstream."""
    try:
        parsed = date_parser.parse(text)
    except (ValueError, OverflowError, TypeError):
        return default
    if parsed.tzinfo is not None:
        return convert(parsed, UTC)
    if end and DATE_ONLY.match(text):
        parsed = end_of_day(parsed)
    return to_utc(parsed, zone)


def _names(model, ids, *fields):
    found = {}
    for chunk in chunks(set(ids)):
        for row in model.select(model.id, *fields).where(model.id.in_(chunk)).tuples():
            found[row[0]] = row[1:]
    return found


def by_date(time_basis, object_type, start_date, end_date, body, zone):
    """``POST /summaryinfo/by_date``: files per local day for the listed objects."""
    for name, value in (('time_basis', time_basis), ('object_type', object_type),
                        ('start_date', start_date), ('end_date', end_date)):
        if not value:
            fail(400, 'Bad Request', 'the path needs /<time_basis>/<object_type>/<start_date>'
                 '/<end_date>; {} is missing'.format(name))
    time_col = TIME_BASES.get(time_basis[:5].lower(), Files.mtime)
    object_col = OBJECT_COLUMNS.get(object_type, TransSIP.instrument)
    numeric = object_col is not TransSIP.project
    ids = _ids(body, '{} ids'.format(object_type), numeric)
    now = datetime.datetime.now(UTC).replace(tzinfo=None)
    start = _report_time(start_date, OLDEST, zone)
    end = _report_time(end_date, now, zone, end=True)
    rows = []
    for chunk in chunks(set(ids)):
        rows.extend(Files.select(time_col, Files.size, TransSIP.id, TransSIP.project,
                                 TransSIP.instrument, TransSIP.submitter)
                    .join(TransSIP, on=(Files.transaction == TransSIP.id))
                    .where(object_col.in_(chunk) & (time_col >= start) & (time_col <= end) &
                           live(Files) & live(TransSIP))
                    .tuples())
    rows.sort(key=lambda row: (row[0], row[2]))
    graph = {'available_dates': {}, 'file_count': {}, 'file_volume': {}, 'transactions': {},
             'file_volume_array': {}, 'transaction_count_array': {}}
    stats = {'project': {}, 'instrument': {}, 'user': {}}
    total_count = total_size = 0
    for when, size, tid, project, instrument, submitter in rows:
        day = to_local(when, zone).date().isoformat()
        graph['file_count'][day] = graph['file_count'].get(day, 0) + 1
        graph['file_volume'][day] = graph['file_volume'].get(day, 0) + size
        day_list = graph['transactions'].setdefault(day, [])
        if tid not in day_list:
            day_list.append(tid)
        for kind, key in (('project', project), ('instrument', instrument),
                          ('user', submitter)):
            stats[kind][str(key)] = stats[kind].get(str(key), 0) + 1
        total_count += 1
        total_size += size
    projects = _names(Projects, [row[3] for row in rows], Projects.title)
    instruments = _names(Instruments, [row[4] for row in rows], Instruments.name)
    users = _names(Users, [row[5] for row in rows], Users.first_name, Users.last_name)
    info = {
        'transaction': {},
        'project': {str(key): projects.get(key, ('',))[0] for key in
                    dict.fromkeys(row[3] for row in rows)},
        'instrument': {str(key): instruments.get(key, ('',))[0] for key in
                       dict.fromkeys(row[4] for row in rows)},
        'user': {str(key): '{} {}'.format(*users.get(key, ('', ''))) for key in
                 dict.fromkeys(row[5] for row in rows)},
    }
    return {'day_graph': {'by_date': graph},
            'summary_totals': {'upload_stats': stats, 'total_file_count': total_count,
                               'total_size_bytes': total_size, 'total_size_string': ''},
            'transaction_info': info}


# -- /summaryinfo/transaction_details --------------------------------------------------------
def transaction_details(body, zone):
    """``POST /summaryinfo/transaction_details``: one aggregate row per transaction that
    has live files."""
    tids = _ids(body, 'transaction ids', True)
    return _details(tids, zone)


def _details(tids, zone):
    rows = []
    for chunk in chunks(set(tids)):
        rows.extend(Files.select(TransSIP.id, TransSIP.updated, TransSIP.submitter,
                                 TransSIP.project, TransSIP.instrument,
                                 peewee.fn.MIN(Files.mtime), peewee.fn.MAX(Files.mtime),
                                 peewee.fn.SUM(Files.size), peewee.fn.COUNT(Files.id))
                    .join(TransSIP, on=(Files.transaction == TransSIP.id))
                    .where(TransSIP.id.in_(chunk) & live(Files) & live(TransSIP))
                    .group_by(TransSIP.id, TransSIP.updated, TransSIP.submitter,
                              TransSIP.project, TransSIP.instrument).tuples())
    rows.sort(key=lambda row: row[0])
    result = {}
    for tid, updated, submitter, project, instrument, first, last, size, count in rows:
        uploaded = to_local(updated, zone)
        result[str(tid)] = {
            # local like every other date here (upstream: UTC, spec 18.10)
            'upload_id': str(tid), 'upload_date': uploaded.date().isoformat(),
            'file_date_start': to_local(_dt(first), zone).date().isoformat(),
            'file_date_end': to_local(_dt(last), zone).date().isoformat(),
            'uploaded_by_id': submitter, 'bundle_size': int(size or 0), 'file_count': count,
            'upload_datetime': uploaded.strftime('%Y-%m-%d %H:%M:%S'),
            'project_id': project, 'instrument_id': instrument,
        }
    return result


def _dt(value):
    """MIN/MAX over a datetime column: SQLite hands back the stored text."""
    if isinstance(value, str):
        return datetime.datetime.fromisoformat(value)
    return value


# -- /transactioninfo/multisearch and /transactioninfo/summary --------------------------------
def multisearch(params, zone):
    """``/transactioninfo/multisearch``: transaction details of the project/instrument group
    within a date range (default: this month, both end days included)."""
    where = live(TransSIP)
    project = params.get('project_id')
    if project:
        where &= TransSIP.project == project
    group = params.get('instrument_group_id')
    if group:
        gid = whole_number(group)
        if gid is None:
            fail(400, 'Bad Request', 'instrument_group_id {!r} is not an integer'.format(group))
        members = [iid for (iid,) in InstrumentGroup.select(InstrumentGroup.instrument).where(
            (InstrumentGroup.group == gid) & live(InstrumentGroup)).tuples()]
        if members:
            where &= TransSIP.instrument.in_(members)
    today = datetime.datetime.now(zone).date()
    first = datetime.datetime(today.year, today.month, 1)
    last = first + datetime.timedelta(days=calendar.monthrange(today.year, today.month)[1])
    start = parse_when(params['start_time'], 'start_time') if params.get('start_time') \
        else first
    end = end_bound(params['end_time'], 'end_time') if params.get('end_time') \
        else last - datetime.timedelta(microseconds=1)
    where &= (TransSIP.updated >= start) & (TransSIP.updated <= end)
    tids = [tid for (tid,) in TransSIP.select(TransSIP.id).where(where).tuples()]
    return _details(tids, zone)


def summary(start_date, end_date, zone):
    """``/transactioninfo/summary``: uploads per project and instrument in a date range."""
    if not start_date:
        fail(400, 'Invalid Start Date', 'No starting date specified')
    if not end_date:
        fail(400, 'Invalid End Date', 'No ending date specified')
    start = parse_when(start_date, 'start_date')
    end = end_bound(end_date, 'end_date')
    rows = (TransSIP.select(TransSIP.project, TransSIP.instrument, peewee.fn.COUNT(TransSIP.id),
                            peewee.fn.MIN(TransSIP.updated), peewee.fn.MAX(TransSIP.updated))
            .where(live(TransSIP) & (TransSIP.updated >= start) & (TransSIP.updated <= end))
            .group_by(TransSIP.project, TransSIP.instrument)
            .order_by(TransSIP.project, TransSIP.instrument).tuples())
    result = {}
    for project, instrument, count, first, last in rows:
        result.setdefault(project, {})[str(instrument)] = {
            'transaction_count': count,
            'upload_date_start': to_local(_dt(first), zone).date().isoformat(),
            'upload_date_end': to_local(_dt(last), zone).date().isoformat(),
            'project_id': project, 'instrument_id': instrument,
        }
    return result

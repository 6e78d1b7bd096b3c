"""The shortcuts of the ``/transactioninfo`` text renderings give what the slow paths give.

- Dates: a column of stored times (the databases' text: SQLite's, PostgreSQL's ``::text``
  with its trailing fraction zeros dropped, ``to_char``'s) converts to the ISO texts that
  converting each value one by one (``_iso_converter``) gives, or fails as that does:
  microseconds, zero fractions, zones, impossible dates, other ISO forms, NULLs.
- Key/values: the one-template grouping of files with the same number of pairs is the
  grouping row by row.
- ``jsontext.folded`` (constant columns written into the template) is ``objects``.
- Generated uploads whose files share some columns (one value for all, ``%`` and non-ASCII
  in names and key/values, the same or different numbers of pairs) answer
  ``/transactioninfo/files`` and ``/by_id`` as the generic reads and ``json.dumps`` do.
- On PostgreSQL a connection whose DateStyle is not ISO gets the same bytes (its dates'
  bare text is not ISO: they are read through ``to_char`` there).
"""
import datetime
import itertools
import json
import operator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metadata.mq_dataset import count_statements
from pacifica.metadata.orm import DB, Files
from pacifica.metadata.queries import jsontext
from pacifica.metadata.queries import transactions as tq

FILE_KEYS = ['created', 'updated', 'deleted', '_id', 'name', 'subdir', 'mimetype', 'ctime',
             'mtime', 'transaction', 'size', 'hashsum', 'hashtype', 'suspense_date',
             'encoding']
DATETIMES = st.datetimes(min_value=datetime.datetime(1, 1, 1),
                         max_value=datetime.datetime(9999, 12, 31, 23, 59, 59, 999999))


def _trimmed(when):
    """PostgreSQL's ``::text`` under DateStyle ISO: the fraction without trailing zeros."""
    text = str(when)
    return text.rstrip('0') if '.' in text else text


# the forms a stored time comes back in, and some it should not but might
TIME_FORMS = [
    str,                                                    # SQLite (peewee's str())
    _trimmed,                                               # PostgreSQL ::text
    lambda when: when.strftime('%Y-%m-%d %H:%M:%S.%f'),     # to_char: always 6 digits
    lambda when: str(when.replace(microsecond=0)) + '.000000',
    datetime.datetime.isoformat,                            # a T
    lambda when: str(when) + '+05:00',                      # a zone
    lambda when: str(when.replace(microsecond=0)) + '.' + str(when.microsecond).zfill(7),
    lambda when: str(when).replace('.', ','),
    # fractions of one width in a whole column (PostgreSQL's trimmed ones can be)
    lambda when: str(when.replace(microsecond=0)) + '.' + str(when.microsecond % 9 + 1),
    lambda when: str(when.replace(microsecond=0)) + '.%03d' % (when.microsecond % 1000),
]
ODD_TIMES = ['2020-02-30 00:00:00', '2020-01-02 24:00:00', '2020-01-02 23:59:60',
             '2020-01-02', '', 'null', '10000-01-01 00:00:00', '0044-03-15 00:00:00 BC',
             '20200102T030405', '2020-W01-1T03:04:05', '2020-01-02 03:04', ' 2020-01-02 03:04:05',
             '2020-01-02 03:04:05 ', '2020-01-02\n03:04:05', '2020-01-02 03:04:05.']
DATE_FORMS = [datetime.date.isoformat, lambda day: day.strftime('%Y%m%d'),
              lambda day: day.isoformat() + ' 00:00:00']
ODD_DATES = ['2020-02-30', '2020-W01-1', '', '10000-01-01', '2020-1-2', '2020-01-02x']


def _outcome(convert, values):
    """The column converted one value at a time, or the exception's class if one fails."""
    try:
        return [convert(value) for value in values]
    except Exception as exc:   # pylint: disable=broad-except
        return type(exc)


def _column(field, values, texts):
    try:
        return tq._iso_column(values, field, texts)   # pylint: disable=protected-access
    except Exception as exc:   # pylint: disable=broad-except
        return type(exc)


def _columns(values, forms, odd):
    """Columns of one form each (the shortcut's case), or of mixed forms and odd texts."""
    one_form = st.tuples(st.sampled_from(forms), st.lists(values, max_size=8)).map(
        lambda drawn: [drawn[0](value) for value in drawn[1]])
    with_nulls = st.tuples(one_form, st.lists(st.booleans(), max_size=8)).map(
        lambda drawn: [None if null else value for value, null in zip(*drawn)] +
        drawn[0][len(drawn[1]):])
    mixed = st.lists(st.one_of(st.none(), st.sampled_from(odd),
                               st.tuples(st.sampled_from(forms), values).map(
                                   lambda drawn: drawn[0](drawn[1]))), max_size=8)
    return st.one_of(one_form, with_nulls, mixed)


def _check(field, values, texts):
    convert = tq._iso_converter(field)   # pylint: disable=protected-access
    expected = _outcome(convert, values)
    if texts and isinstance(expected, list):
        expected = ['null' if value is None else jsontext.quote(value) for value in expected]
    assert _column(field, values, texts) == expected


@settings(max_examples=600, deadline=None)
@given(values=_columns(DATETIMES, TIME_FORMS, ODD_TIMES), texts=st.booleans())
def test_time_column_is_the_one_by_one_conversion(values, texts):
    _check(Files.mtime, values, texts)


@settings(max_examples=300, deadline=None)
@given(values=_columns(st.dates(), DATE_FORMS, ODD_DATES), texts=st.booleans())
def test_date_column_is_the_one_by_one_conversion(values, texts):
    _check(Files.suspense_date, values, texts)


def test_time_column_shortcut_examples():
    """Hand-picked: PostgreSQL's trimmed fractions get their zeros back, a zero fraction
    goes, a whole-second column is rewritten as text."""
    iso_column = tq._iso_column   # pylint: disable=protected-access
    for column in (['2020-01-02 03:04:05.1', '2020-01-02 03:04:06.2', None],
                   ['2020-01-02 03:04:05.1', '2020-01-02 03:04:06.120001', None]):
        assert iso_column(column, Files.mtime, False) == [
            '2020-01-02T03:04:05.100000', column[1].replace(' ', 'T').ljust(26, '0'), None]
    assert iso_column(['2020-01-02 03:04:05.000000'], Files.mtime, True) == [
        '"2020-01-02T03:04:05"']
    assert iso_column(['0001-01-01 00:00:00', '9999-12-31 23:59:59'], Files.mtime,
                      False) == ['0001-01-01T00:00:00', '9999-12-31T23:59:59']


@settings(max_examples=300, deadline=None)
@given(counts=st.lists(st.integers(0, 4), max_size=8), same=st.booleans(), data=st.data())
def test_key_value_lists_by_file(counts, same, data):
    """Rows of pairs (sorted by file): the lists by file, as grouping row by row gives."""
    if same and counts:
        counts = [counts[0]] * len(counts)
    fids, pairs = [], []
    for fid, count in enumerate(counts):
        fids += [fid * 7] * count
        pairs += data.draw(st.lists(st.text(max_size=4), min_size=count, max_size=count))
    expected = {fid: '[' + ', '.join(text for _, text in group) + ']' for fid, group in
                itertools.groupby(zip(fids, pairs), operator.itemgetter(0))}
    lists_by_file = tq._lists_by_file   # pylint: disable=protected-access
    assert (lists_by_file(tuple(fids), pairs) if fids else {}) == expected


SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 70, 2 ** 70),
                    st.text(max_size=6), st.sampled_from(['%s', '%%', '%(a)s', '"%']))


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.sampled_from(['a', '%s', 'b%', '"', '\u00e9']), min_size=1,
                     max_size=5, unique=True), data=st.data())
def test_folded_objects_are_objects(keys, data):
    """Columns of one value written into the template render as the full columns do."""
    count = data.draw(st.integers(1, 5))
    columns, folded = [], []
    for _ in keys:
        if data.draw(st.booleans()):
            value = jsontext.scalar(data.draw(SCALARS))
            columns.append([value] * count)
            folded.append(value)
        else:
            column = jsontext.column(data.draw(st.lists(SCALARS, min_size=count,
                                                        max_size=count)))
            columns.append(column)
            folded.append(column)
    assert jsontext.folded(keys, folded, count) == jsontext.objects(keys, columns)
    first = [str(n) for n in range(count)]
    assert jsontext.folded(keys, folded, count, prefix='"%s": ', first=first) == \
        jsontext.objects(keys, columns, prefix='"%s": ', first=first)


# -- through the server ------------------------------------------------------------------------
NAMES = st.text(st.characters(codec='utf-8', exclude_categories=('Cs', 'Cc')), min_size=1,
                max_size=12) | st.sampled_from(['%s', '100%', '%(x)s', 'caf\u00e9 \U0001f600'])
TIMES = DATETIMES.filter(lambda when: when.year >= 1970).map(datetime.datetime.isoformat)
COLUMNS = {
    'name': NAMES, 'subdir': NAMES, 'ctime': TIMES, 'mtime': TIMES,
    'size': st.integers(0, 2 ** 62), 'hashsum': st.text('0123456789abcdef', max_size=40),
    'hashtype': st.sampled_from(['sha1', 'md5', '%']),
    'mimetype': st.sampled_from(['text/plain', 'application/octet-stream', '']),
    'encoding': st.sampled_from(['UTF8', 'ascii', '%s']),
    'suspense_date': st.none() | st.dates(min_value=datetime.date(1900, 1, 1),
                                          max_value=datetime.date(2200, 1, 1)).map(
                                              datetime.date.isoformat),
}
NEXT_ID = itertools.count(810000)
NEXT_KV = itertools.count(880000)


@st.composite
def uploads(draw):
    """Files whose columns are each one value for all of them or one per file, each with
    the same pairs, the same number of pairs, or any number."""
    count = draw(st.integers(1, 6))
    shared = {name: draw(values) for name, values in COLUMNS.items() if draw(st.booleans())}
    files = []
    for _ in range(count):
        item = {name: shared[name] if name in shared else draw(values)
                for name, values in COLUMNS.items()}
        files.append({name: value for name, value in item.items() if value is not None})
    pairs = st.lists(st.tuples(NAMES, NAMES), max_size=3)
    how = draw(st.sampled_from(['same', 'as many', 'any']))
    if how == 'same':
        links = [draw(pairs)] * count
    elif how == 'as many':
        width = draw(st.integers(0, 3))
        links = [draw(st.lists(st.tuples(NAMES, NAMES), min_size=width, max_size=width))
                 for _ in range(count)]
    else:
        links = [draw(pairs) for _ in range(count)]
    return files, links


PARENTS = (('users', {'_id': 990101, 'first_name': 'render'}),
           ('projects', {'_id': 'render-t', 'title': 'render'}),
           ('instruments', {'_id': 990101, 'name': 'render'}))


@pytest.fixture(scope='module')
def api(md_api):
    """A server with the submitter, project and instrument of the transactions."""
    for path, body in PARENTS:
        md_api.ok('PUT', path, body=body)
    return md_api


def _load(api, files, links):
    tid = next(NEXT_ID)
    api.ok('PUT', 'transactions', body={'_id': tid})
    api.ok('PUT', 'transsip', body={'_id': tid, 'submitter': 990101, 'project': 'render-t',
                                     'instrument': 990101})
    api.ok('PUT', 'files', body=[dict(item, _id=tid * 10 + n, transaction=tid)
                                 for n, item in enumerate(files)])
    rows = []
    for n, pairs in enumerate(links):
        for key, value in pairs:
            kid, vid = next(NEXT_KV), next(NEXT_KV)
            api.ok('PUT', 'keys', body={'_id': kid, 'key': key})
            api.ok('PUT', 'values', body={'_id': vid, 'value': value})
            rows.append({'file': tid * 10 + n, 'key': kid, 'value': vid})
    if rows:
        api.ok('PUT', 'file_key_value', body=rows)
    return tid


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture,
                                 HealthCheck.data_too_large, HealthCheck.too_slow])
@given(upload=uploads())
def test_uploads_with_shared_columns_render_as_the_generic_read(api, upload):
    files, links = upload
    tid = _load(api, files, links)
    generic = {str(row['_id']): {key: row[key] for key in FILE_KEYS}
               for row in api.get('files', 'transaction={}'.format(tid))}
    answer = api.request('GET', 'transactioninfo/files/{}'.format(tid))
    assert answer.status_code == 200
    assert json.loads(answer.content) == generic
    record = api.request('GET', 'transactioninfo/by_id/{}'.format(tid))
    assert record.status_code == 200
    by_id = json.loads(record.content)
    assert {fid: {k: v for k, v in item.items() if k != 'key_values'}
            for fid, item in by_id['files'].items()} == generic
    expected_pairs = {str(tid * 10 + n): sorted(pairs) for n, pairs in enumerate(links)}
    assert {fid: sorted((pair['key'], pair['value']) for pair in item['key_values'])
            for fid, item in by_id['files'].items()} == expected_pairs
    (texts, dumped), _ = count_statements(api.db_url, lambda: (
        (tq.files_json(tid), tq.by_id_json(tid)),
        (json.dumps(tq.files(tid)).encode(), json.dumps(tq.by_id(tid)).encode())))
    assert texts == dumped
    assert (answer.content, record.content) == texts


def _with_date_style(style, tid):
    def run():
        if style is not None:
            DB.obj.execute_sql('SET DateStyle TO {}'.format(style))
        # by_id only where psycopg2 can still parse the transsip row's times at all
        by_id = tq.by_id_json(tid) if 'ISO' in (style or 'ISO') else None
        return tq._dates_family(), tq.files_json(tid), by_id   # pylint: disable=protected-access
    return run


def test_a_connection_not_in_iso_date_style_answers_the_same(api):
    if not api.db_url.startswith('postgres'):
        pytest.skip("DateStyle is PostgreSQL's")
    when = datetime.datetime(2021, 3, 4, 5, 6, 7, 890000)
    files = [{'name': 'f{}'.format(n), 'subdir': 's', 'ctime': when.isoformat(),
              'mtime': (when + datetime.timedelta(days=n, microseconds=-n)).isoformat(),
              'size': n, 'hashsum': '', 'hashtype': 'sha1', 'mimetype': '', 'encoding': 'x',
              'suspense_date': '2030-01-0{}'.format(n + 1)} for n in range(3)]
    tid = _load(api, files, [[('k', 'v')]] * 3)
    answers = {}
    for style in (None, "'SQL, DMY'", 'German', "'Postgres, MDY'", "'ISO, DMY'"):
        (family, files_text, by_id), _ = count_statements(api.db_url,
                                                          _with_date_style(style, tid))
        answers[style] = files_text
        assert family == ('postgresql-iso' if 'ISO' in (style or 'ISO') else 'postgresql')
        if by_id is not None:
            assert by_id == api.request('GET', 'transactioninfo/by_id/{}'.format(
                tid)).content
    assert answers[None] == api.request('GET', 'transactioninfo/files/{}'.format(
        tid)).content
    assert b'"mtime": "2021-03-05T05:06:07"' in answers[None]   # PUT keeps whole seconds
    assert b'"suspense_date": "2030-01-01"' in answers[None]
    assert all(text == answers[None] for text in answers.values())

"""The transaction endpoints render a file exactly as the generic ``GET /files`` does.

``/transactioninfo/files`` and ``/transactioninfo/by_id`` build file JSON from the driver's
values straight (issue 13: model instances cost more than the query); this checks, for
generated files (microsecond and whole-second times, suspense dates or none, odd names), that
every value and the key order are those of the generic read, which goes through peewee's
own conversions.
"""
import datetime
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

FILE_KEYS = ['created', 'updated', 'deleted', '_id', 'name', 'subdir', 'mimetype', 'ctime',
             'mtime', 'transaction', 'size', 'hashsum', 'hashtype', 'suspense_date',
             'encoding']
TIMES = st.datetimes(min_value=datetime.datetime(1970, 1, 2),
                     max_value=datetime.datetime(2100, 1, 1)).map(
                         lambda when: when.isoformat())
NAMES = st.text(st.characters(codec='utf-8', exclude_categories=('Cs', 'Cc')), min_size=1,
                max_size=40)
FILE = st.fixed_dictionaries({
    'name': NAMES, 'subdir': NAMES, 'ctime': TIMES, 'mtime': TIMES,
    'size': st.integers(0, 2 ** 62), 'hashsum': st.text('0123456789abcdef', max_size=40),
    'mimetype': st.sampled_from(['text/plain', 'application/octet-stream', '']),
}, optional={'suspense_date': st.dates(min_value=datetime.date(1900, 1, 1),
                                       max_value=datetime.date(2200, 1, 1))
             .map(lambda day: day.isoformat())})
NEXT_ID = itertools.count(700000)


@pytest.fixture(scope='module')
def api(md_api):
    """A server with one submitter, project and instrument for the transactions."""
    md_api.ok('PUT', 'users', body={'_id': 990001, 'first_name': 'render'})
    md_api.ok('PUT', 'projects', body={'_id': 'render', 'title': 'render'})
    md_api.ok('PUT', 'instruments', body={'_id': 990001, 'name': 'render'})
    return md_api


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(FILE, min_size=1, max_size=6))
def test_transaction_files_match_generic_read(api, files):
    tid = next(NEXT_ID)
    api.ok('PUT', 'transactions', body={'_id': tid})
    api.ok('PUT', 'transsip', body={'_id': tid, 'submitter': 990001, 'project': 'render',
                                     'instrument': 990001})
    rows = [dict(item, _id=tid * 10 + n, transaction=tid) for n, item in enumerate(files)]
    api.ok('PUT', 'files', body=rows)
    generic = {str(row['_id']): {key: row[key] for key in FILE_KEYS}
               for row in api.get('files', 'transaction={}'.format(tid))}
    answer = api.request('GET', 'transactioninfo/files/{}'.format(tid))
    assert answer.status_code == 200
    rendered = json.loads(answer.content)
    assert rendered == generic
    for item in rendered.values():
        assert list(item) == FILE_KEYS
    record = api.get('transactioninfo/by_id/{}'.format(tid))
    assert {fid: {k: v for k, v in item.items() if k != 'key_values'}
            for fid, item in record['files'].items()} == generic
    assert list(record['files']) == list(rendered)   # the same order: by name, then id
    assert record['file_ids'] == [int(fid) for fid in rendered]

"""The transaction endpoints render a file exactly as the generic ``GET /files`` does.

``/transactioninfo/files`` and ``/transactioninfo/by_id`` build file JSON from the driver's
values straight (issue 13: model instances cost more than the query); this checks, for
generated files (microsecond and whole-second times, suspense dates or none, odd names), that
every value and the key order are those of the generic read, which goes through peewee's
own conversions. The text renderings (``by_id_json``, ``files_json``, :mod:`jsontext`) must
be byte for byte ``json.dumps`` of the dicts: checked on the same generated uploads, and on
generated rows of any JSON scalars (control characters, lone surrogates, huge integers,
floats, booleans, nulls, mixed columns).
"""
import datetime
import itertools
import json

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from metadata.mq_dataset import count_statements
from pacifica.metadata.queries import jsontext
from pacifica.metadata.queries import transactions as tq

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
PAIRS = st.lists(st.tuples(NAMES, NAMES), max_size=3)
SCALARS = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 80, 2 ** 80),
                    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=12),
                    st.sampled_from(['\x00', '\x1f\x7f', '"\\/', '\ud800', '\u2028\ufeff',
                                     '\U0001f600', '%s %%', '']))


@pytest.fixture(scope='module')
def api(md_api):
    """A server with one submitter, project and instrument for the transactions."""
    md_api.ok('PUT', 'users', body={'_id': 990001, 'first_name': 'render'})
    md_api.ok('PUT', 'projects', body={'_id': 'render', 'title': 'render'})
    md_api.ok('PUT', 'instruments', body={'_id': 990001, 'name': 'render'})
    return md_api


@settings(max_examples=20, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(files=st.lists(st.tuples(FILE, PAIRS), min_size=1, max_size=6))
def test_transaction_files_match_generic_read(api, files):
    tid = next(NEXT_ID)
    api.ok('PUT', 'transactions', body={'_id': tid})
    api.ok('PUT', 'transsip', body={'_id': tid, 'submitter': 990001, 'project': 'render',
                                     'instrument': 990001})
    rows = [dict(item, _id=tid * 10 + n, transaction=tid) for n, (item, _) in enumerate(files)]
    api.ok('PUT', 'files', body=rows)
    put_key_values(api, [(tid * 10 + n, pairs) for n, (_, pairs) in enumerate(files)])
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

    # the text renderings are json.dumps of the dicts, byte for byte (SQL made once and
    # reused: a second call takes the kept statements)
    for _ in range(2):
        (texts, dumped), _ = count_statements(api.db_url, lambda: (
            (tq.files_json(tid), tq.by_id_json(tid)),
            (json.dumps(tq.files(tid)).encode(), json.dumps(tq.by_id(tid)).encode())))
        assert texts == dumped
    assert answer.content == texts[0]


NEXT_KV = itertools.count(990000)


def put_key_values(api, files):
    """Give each (file id, [(key, value)]) its pairs (keys and values made as needed)."""
    links = []
    for fid, pairs in files:
        for key, value in pairs:
            kid, vid = next(NEXT_KV), next(NEXT_KV)
            api.ok('PUT', 'keys', body={'_id': kid, 'key': key})
            api.ok('PUT', 'values', body={'_id': vid, 'value': value})
            links.append({'file': fid, 'key': kid, 'value': vid})
    if links:
        api.ok('PUT', 'file_key_value', body=links)


@settings(max_examples=300, deadline=None)
@given(keys=st.lists(st.text(max_size=8), min_size=1, max_size=5, unique=True),
       data=st.data())
def test_rendered_objects_are_json_dumps(keys, data):
    """Rows of any JSON scalars (a column of one type or mixed) render as json.dumps."""
    rows = data.draw(st.lists(st.tuples(*[SCALARS] * len(keys)), max_size=6))
    ids = data.draw(st.lists(st.one_of(st.integers(-5, 5), st.text(max_size=3)),
                             min_size=len(rows), max_size=len(rows)))
    columns = [jsontext.column(list(values)) for values in zip(*rows)] or [[]] * len(keys)
    texts = jsontext.objects(keys, columns) if rows else []
    assert texts == [json.dumps(dict(zip(keys, row))) for row in rows]
    names = [str(key) for key in ids]
    assert jsontext.keyed(names, texts) == json.dumps(
        dict(zip(names, (dict(zip(keys, row)) for row in rows))))
    entries = jsontext.objects(keys, columns, prefix='"%s": ',
                               first=jsontext.column(list(range(len(rows))))) if rows else []
    assert '{' + ', '.join(entries) + '}' == json.dumps(
        {str(n): dict(zip(keys, row)) for n, row in enumerate(rows)})

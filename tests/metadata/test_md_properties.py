"""Property tests: hostile input in every parameter, path segment and body field of every
metadata endpoint family never gets a 5xx, an error is the JSON error document, and a
refused write changes nothing (a snapshot of every table before and after).

Bounded: together about a minute on SQLite, a third of the examples on PostgreSQL.
Strategies are in hostile.py.
"""
import copy
import xml.sax.saxutils

import pytest
from hypothesis import strategies as st

from metadata.hostile import (DATETIMES, EDGE_DATES, JSON, SCALARS, SPECIAL_BODIES, TEXT,
                              generic_request, raw_body, refused_writes_nothing, run, send)
from metadata.mq_dataset import ingest_document, load
from metadata.test_md_objects import SPEC, WORLD
from support import check_answer, pct, query_string

WRITES = ('PUT', 'POST', 'DELETE')


@pytest.fixture(scope='module')
def api(md_api):
    """A server with the query-endpoint catalog loaded, and the parents of the generic
    samples that do not clash with it."""
    load(md_api)
    for name, body in WORLD:
        md_api.request('PUT', name, body=body)
    return md_api


# one valid record per object, without the keys that would clash once it is stored
SAMPLES = {name: {k: v for k, v in record.items() if k not in ('_id', 'uuid')}
           for name, (record, _, _) in SPEC.items()}
for _name in ('project_user', 'instrument_user', 'transaction_user', 'institution_user'):
    SAMPLES[_name]['relationship_name'] = SAMPLES[_name].get('relationship_name', 'member_of')


def test_generic_objects(api):
    def check(api, case):
        method, name, query, raw = case
        if method in WRITES:
            refused_writes_nothing(api, method, name, query, raw)
        else:
            check_answer(send(api, method, name, query))
    run(api, generic_request(SAMPLES), 200, check)


def test_generic_special_bodies(api):
    def check(api, case):
        method, name, raw = case
        refused_writes_nothing(api, method, name, 'keyword=x' if method == 'POST' else '',
                               raw.encode('utf-8', 'surrogatepass'))
    run(api, st.tuples(st.sampled_from(['PUT', 'POST']),
                       st.sampled_from(['keywords', 'users', 'files', 'project_user']),
                       SPECIAL_BODIES), 25, check)


# path templates of the reading query endpoints: {} is a hostile segment
GET_PATHS = [
    'userinfo/by_id/{}', 'userinfo/by_id/{}/{}', 'userinfo/search/{}', 'userinfo/search/{}/{}',
    'projectinfo/by_project_id/{}', 'projectinfo/search/{}', 'projectinfo/by_user_id/{}',
    'instrumentinfo/by_instrument_id/{}', 'instrumentinfo/search/{}',
    'instrumentinfo/by_user_id/{}', 'instrumentinfo/categories', 'transactioninfo/by_id/{}',
    'transactioninfo/files/{}', 'transactioninfo/last', 'transactioninfo/search',
    'transactioninfo/search/{}', 'transactioninfo/multisearch',
    'transactioninfo/release_state/{}', 'transactioninfo/summary/{}/{}',
    'fileinfo/files_for_keyvalue/{}/{}', 'tkvinfo/values_for_key/{}',
    'tkvinfo/values_for_key/{}/{}/{}', 'tkvinfo/kv_for_transaction/{}', 'objectinfo',
    'objectinfo/{}', 'objectinfo/{}/{}', 'migrate/users', 'migrate/projects',
    'migrate/instruments', 'userinfo/by_id/{}/{}/{}',
]
QUERY_NAMES = ['project', 'project_id', 'instrument', 'instrument_id', 'user', 'user_id',
               'person_id', 'submitter', 'transaction_id', 'time_frame', 'start', 'end',
               'start_time', 'end_time', 'item_count', 'page', 'instrument_group_id',
               'search_term', 'option', 'trans_id', 'key', 'value', 'updated', 'columns']
SEGMENT = st.one_of(TEXT, st.sampled_from(['10', '1234a', '54', '67', 'simple', 'list',
                                           'Users', 'hashlist', 'overview', 'temp_f', '27']))
QUERY = st.lists(st.tuples(st.sampled_from(QUERY_NAMES),
                           st.one_of(TEXT, EDGE_DATES, st.lists(TEXT, min_size=2,
                                                                max_size=3))),
                 max_size=4)


@st.composite
def get_query(draw):
    template = draw(st.sampled_from(GET_PATHS))
    segments = [draw(SEGMENT) for _ in range(template.count('{}'))]
    return template.format(*(pct(s) for s in segments)), query_string(draw(QUERY))


def test_query_endpoints_get(api):
    def check(api, case):
        path, query = case
        check_answer(send(api, 'GET', path, query))
    run(api, get_query(), 150, check)


# POST query endpoints: (template, whether it writes)
POST_PATHS = [
    ('projectinfo/has_data', False), ('fileinfo/file_details', False),
    ('fileinfo/earliest_latest/{}/{}', False), ('transactioninfo/release_state', False),
    ('summaryinfo/by_date/{}/{}/{}/{}', False), ('summaryinfo/transaction_details', False),
    ('doiupload/update_modified_time', True), ('doiupload/new_entry', True),
    ('tkvupload/upload_entries', True),
]
POST_SEGMENT = st.one_of(SEGMENT, EDGE_DATES, DATETIMES, st.sampled_from(
    ['project', 'instrument', 'user', 'submitted', 'modified', 'created']))
ID_LISTS = st.lists(st.one_of(SCALARS, st.sampled_from([67, 68, 54, '1234a', 10])),
                    max_size=30)
NEW_ENTRY = st.fixed_dictionaries({
    'doi': TEXT, 'owner_network_id': st.one_of(TEXT, st.just('bjohn')),
    'meta': st.one_of(JSON, st.dictionaries(
        st.one_of(TEXT, st.sampled_from(['doi_infix', 'site_url', 'title'])),
        st.one_of(TEXT, st.just('data.67'), JSON), max_size=4))},
    optional={'id': SCALARS})


@st.composite
def post_query(draw):
    template, writes = draw(st.sampled_from(POST_PATHS))
    segments = [draw(POST_SEGMENT) for _ in range(template.count('{}'))]
    body = draw(st.one_of(JSON, ID_LISTS, st.lists(TEXT, max_size=5),
                          st.lists(st.one_of(TEXT, st.integers()), max_size=5),
                          st.lists(NEW_ENTRY, max_size=3),
                          st.dictionaries(st.one_of(TEXT, st.sampled_from(['67', '68'])),
                                          st.dictionaries(TEXT, SCALARS, max_size=4),
                                          max_size=3)))
    return template.format(*(pct(s) for s in segments)), writes, raw_body(body)


def test_query_endpoints_post(api):
    def check(api, case):
        path, writes, raw = case
        if writes:
            refused_writes_nothing(api, 'POST', path, '', raw)
        else:
            check_answer(send(api, 'POST', path, '', raw))
    run(api, post_query(), 150, check)


@st.composite
def ingest_body(draw):
    """A valid ingest document with hostile changes: a value replaced, a key removed, a
    junk entry added, or the whole body replaced."""
    doc = ingest_document(tid=draw(st.integers(9000, 9999)),
                          first_file=draw(st.integers(90000, 99999)))
    for _ in range(draw(st.integers(1, 3))):
        entry = draw(st.sampled_from([e for e in doc if isinstance(e, dict) and e]))
        action = draw(st.sampled_from(['replace', 'remove', 'add', 'date']))
        key = draw(st.sampled_from(sorted(entry)))
        if action == 'replace':
            entry[key] = draw(JSON)
        elif action == 'remove':
            entry.pop(key)
        elif action == 'date':
            entry[draw(st.sampled_from(['ctime', 'mtime']))] = draw(
                st.one_of(EDGE_DATES, DATETIMES, SCALARS))
        else:
            doc.insert(draw(st.integers(0, len(doc))), draw(JSON))
    return draw(st.one_of(st.just(doc), st.just(doc), JSON))


def test_ingest(api):
    def check(api, doc):
        refused_writes_nothing(api, 'PUT', 'ingest', '', raw_body(copy.deepcopy(doc)))
    run(api, ingest_body(), 100, check)


def test_tkvupload(api):
    body = st.dictionaries(st.one_of(TEXT, st.sampled_from(['67', '68', '69'])),
                           st.one_of(st.dictionaries(TEXT, st.one_of(SCALARS, JSON),
                                                     max_size=4), JSON), max_size=3)

    def check(api, case):
        refused_writes_nothing(api, 'POST', 'tkvupload/upload_entries', '', raw_body(case))
    run(api, body, 60, check)


def _xml_text(text):
    return xml.sax.saxutils.escape(text)


@st.composite
def osti_document(draw):
    """An OSTI XML record with hostile text, tags, attributes and counts."""
    tag = st.one_of(st.sampled_from(['title', 'publication_date', 'osti_id', 'release_date',
                                     'doi_date']),
                    st.from_regex(r'[a-z_]{1,300}', fullmatch=True))
    fields = ''.join('<{0}>{1}</{0}>'.format(t, _xml_text(v)) for t, v in draw(
        st.lists(st.tuples(tag, st.one_of(TEXT, EDGE_DATES)), max_size=4)))
    authors = ''.join(
        '<creators_detail><first_name>{}</first_name><last_name>{}</last_name>'
        '</creators_detail>'.format(_xml_text(a), _xml_text(b))
        for a, b in draw(st.lists(st.tuples(TEXT, TEXT), max_size=3)))
    doi = draw(st.one_of(st.just('10.25584/data.67/1'), TEXT))
    doc = ('<records numfound="{}"><record status="{}" released="{}"><doi>{}</doi>{}'
           '<creatorsblock>{}</creatorsblock></record></records>').format(
               _xml_text(draw(TEXT)), xml.sax.saxutils.escape(draw(TEXT), {'"': '&quot;'}),
               xml.sax.saxutils.escape(draw(TEXT), {'"': '&quot;'}), _xml_text(doi), fields,
               authors)
    content_type = draw(st.sampled_from(['application/xml', 'text/xml',
                                         'application/xml; charset=utf-8', 'text/plain', '']))
    return doc.encode('utf-8', 'surrogatepass'), content_type


def test_doiupload_update(api):
    def check(api, case):
        raw, content_type = case
        refused_writes_nothing(api, 'POST', 'doiupload/update', '', raw, content_type)
    run(api, osti_document(), 60, check)


REPORT_DATES = st.one_of(EDGE_DATES, DATETIMES, TEXT)


@st.composite
def report_request(draw):
    kind = draw(st.sampled_from(['by_date', 'summary', 'multisearch', 'search', 'values']))
    start, end = draw(REPORT_DATES), draw(REPORT_DATES)
    if kind == 'by_date':
        basis = draw(st.sampled_from(['modified', 'created', 'submitted', 'x']))
        what = draw(st.sampled_from(['instrument', 'project', 'user', 'x']))
        return ('POST', 'summaryinfo/by_date/{}/{}/{}/{}'.format(
            basis, what, pct(start), pct(end)), '', raw_body(draw(ID_LISTS)))
    if kind == 'summary':
        return 'GET', 'transactioninfo/summary/{}/{}'.format(pct(start), pct(end)), '', None
    if kind == 'values':
        return 'GET', 'tkvinfo/values_for_key/temp_f/{}/{}'.format(pct(start), pct(end)), '', \
            None
    names = (('start_time', 'end_time') if kind == 'multisearch' else ('start', 'end'))
    pairs = [(names[0], start), (names[1], end), ('project_id', '1234a')]
    if kind == 'search':
        pairs += [('item_count', draw(st.one_of(TEXT, st.integers().map(str)))),
                  ('page', draw(st.one_of(TEXT, st.integers().map(str))))]
    return 'GET', 'transactioninfo/' + kind, query_string(pairs), None


def test_reporting(api):
    def check(api, case):
        method, path, query, raw = case
        check_answer(send(api, method, path, query, raw))
    run(api, report_request(), 100, check)

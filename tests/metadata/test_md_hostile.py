"""The metadata probes of the security review that answered 500 (or did the wrong thing),
as regression tests through real HTTP on SQLite and PostgreSQL: each is a 4xx naming the
problem and writing nothing, or, where the input is valid data, a correct answer.

The property tests (test_md_properties.py) generate the classes these are instances of.
"""
from urllib.parse import quote

import pytest

from metadata.mq_dataset import load
from support import assert_json_error

SUR = 'x\ud800'
DOI = '10.25584/data.67/1'
OSTI = ('<records numfound="1"><record status="Completed" released="Y"><doi>{doi}</doi>'
        '{extra}<creatorsblock><creators_detail><first_name>{first}</first_name>'
        '<last_name>Lee</last_name></creators_detail></creatorsblock></record></records>')


@pytest.fixture(scope='module')
def api(md_api):
    """A server with the query-endpoint catalog (users 10-13, project 1234a, ...)."""
    load(md_api)
    return md_api


def _ingest(project='1234a', tkv='foo', hashsum='a' * 40, mtime='2020-01-01T00:00:00',
            tid=99002):
    return [{'destinationTable': 'Transactions.submitter', 'value': 10},
            {'destinationTable': 'Transactions.project', 'value': project},
            {'destinationTable': 'Transactions.instrument', 'value': 54},
            {'destinationTable': 'TransactionKeyValue', 'key': 'k', 'value': tkv},
            {'destinationTable': 'Files', '_id': tid, 'name': 'f', 'subdir': '', 'size': 1,
             'ctime': '2020-01-01T00:00:00', 'mtime': mtime, 'mimetype': 'text/plain',
             'hashtype': 'sha1', 'hashsum': hashsum},
            {'destinationTable': 'Transactions._id', 'value': tid}]


# (method, path, query, JSON body, words the 400 message holds)
REFUSED = [
    ('PUT', 'project_user', '', {'user': 10, 'project': '1234a', 'relationship_name': SUR},
     ['relationship_name', 'Unicode']),
    ('POST', 'projectinfo/has_data', '', [SUR], ['[0]', 'Unicode']),
    ('POST', 'fileinfo/earliest_latest/project/submitted', '', [SUR], ['Unicode']),
    ('POST', 'tkvupload/upload_entries', '', {'67': {'k' + SUR: 'v'}}, ['67.k', 'Unicode']),
    ('POST', 'doiupload/update_modified_time', '', [SUR], ['Unicode']),
    ('POST', 'doiupload/new_entry', '', [{'doi': '10.1/' + SUR, 'owner_network_id': 'bjohn',
                                          'meta': {'doi_infix': 'x.67'}}], ['doi', 'Unicode']),
    ('POST', 'summaryinfo/by_date/modified/project/2016-01-01/2016-12-31', '', [SUR],
     ['Unicode']),
    ('PUT', 'ingest', '', _ingest(project=SUR), ['Unicode']),
    ('PUT', 'ingest', '', _ingest(tkv='a\x00b'), ['NUL']),
    ('PUT', 'ingest', '', _ingest(hashsum='0x' + 'a' * 38), ['hexadecimal']),
    ('PUT', 'ingest', '', _ingest(mtime='0001-01-01T00:00:00'), ['mtime', '1900']),
    ('GET', 'userinfo/search/' + '+'.join(['a'] * 3000), '', None, ['search terms']),
    ('GET', 'projectinfo/search/' + '+'.join(['a'] * 3000), '', None, ['search terms']),
    ('GET', 'instrumentinfo/search/' + '+'.join(['a'] * 33), '', None, ['32']),
    ('GET', 'transactioninfo/search', 'item_count=999999999999999999&page=999999999999999999',
     None, ['item_count', 'page']),
    ('GET', 'userinfo/search/a%00b', '', None, ['NUL']),
    ('GET', 'projectinfo/by_project_id/a%00b', '', None, ['NUL']),
    ('GET', 'users', 'first_name=a%00b', None, ['first_name', 'NUL']),
    ('GET', 'users', 'first_name=%ED%A0%80', None, []),
    ('DELETE', 'users', 'middle_initial=', None, ['middle_initial', 'empty']),
    ('DELETE', 'users', '_id=10&_id_operator=', None, ['_id_operator']),
    ('POST', 'users', 'last_name=', {'first_name': 'X'}, ['last_name', 'empty']),
]


@pytest.mark.parametrize('method, path, query, body, words', REFUSED,
                         ids=['{} {}'.format(c[0], c[1][:40]) for c in REFUSED])
def test_refused_and_nothing_written(api, method, path, query, body, words):
    before = api.snapshot()
    resp = api.request(method, path, query, body)
    assert 400 <= resp.status_code < 500, resp.text
    assert_json_error(resp, resp.status_code, *words)
    assert api.snapshot() == before


# valid data at the edges of the calendar: a correct answer, not a 500
ANSWERED = [
    ('GET', 'users', '_id=10&_id=11&_id_operator=in&recursion_depth=0', None),
    ('GET', 'transactioninfo/search', 'start=' + quote('0001-01-01T00:00:00+05:00'), None),
    ('GET', 'transactioninfo/search', 'end=' + quote('9999-12-31T23:59:59-05:00'), None),
    ('GET', 'transactioninfo/search', 'end=9999-12-31', None),
    ('GET', 'transactioninfo/summary/' + quote('0001-01-01T00:00:00+05:00') + '/2020-01-01',
     '', None),
    ('GET', 'transactioninfo/summary/2020-01-01/9999-12-31', '', None),
    ('GET', 'tkvinfo/values_for_key/temp_f/' + quote('0001-01-01T00:00:00+05:00'), '', None),
    ('POST', 'summaryinfo/by_date/modified/instrument/2016-01-01/9999-12-31', '', [54]),
    ('POST', 'summaryinfo/by_date/modified/instrument/0001-01-01/9999-12-31', '', [54]),
    ('GET', 'transactioninfo/multisearch',
     'project_id=1234a&end_time=' + quote('9999-12-31T23:59:59-05:00'), None),
    ('GET', 'transactioninfo/multisearch',
     'project_id=1234a&start_time=' + quote('0001-01-01T00:00:00+05:00'), None),
]


@pytest.mark.parametrize('method, path, query, body', ANSWERED,
                         ids=['{} {}'.format(c[0], c[1][:40]) for c in ANSWERED])
def test_calendar_edges_answer(api, method, path, query, body):
    resp = api.request(method, path, query, body)
    assert resp.status_code == 200, resp.text
    resp.json()


def test_year_one_row_stored_before_still_reads(api):
    # a row from before the ingest check (or from the generic API) must not poison reports
    api.ok('PUT', 'transactions', body={'_id': 99200})
    api.ok('PUT', 'transsip', body={'_id': 99200, 'submitter': 10, 'instrument': 54,
                                    'project': '1234a'})
    api.ok('PUT', 'files', body={'_id': 99200, 'name': 'old', 'subdir': '', 'size': 1,
                                 'transaction': 99200, 'mtime': '0001-01-01T00:00:00',
                                 'ctime': '0001-01-01T00:00:00'})
    resp = api.request('POST', 'summaryinfo/transaction_details', body=[99200])
    assert resp.status_code == 200, resp.text
    assert resp.json()['99200']['file_date_start'] == '0001-01-01'
    resp = api.request('GET', 'transactioninfo/multisearch', 'project_id=1234a')
    assert resp.status_code == 200, resp.text
    assert '99200' in resp.json()
    resp = api.request('POST', 'summaryinfo/by_date/modified/project/0001-01-01/0001-12-31',
                       body=['1234a'])
    assert resp.status_code == 200, resp.text


@pytest.mark.parametrize('first, extra, words', [
    ('A' * 5000, '', ['first_name', '255']),
    ('A' * 300, '', ['first_name', '255']),
    ('Ann', '<{0}>x</{0}>'.format('e' * 300), ['element name', '255']),
])
def test_doi_update_refuses_what_a_column_cannot_hold(api, first, extra, words):
    before = api.snapshot()
    raw = OSTI.format(doi=DOI, extra=extra, first=first).encode()
    resp = api.request('POST', 'doiupload/update', raw=raw,
                       headers={'Content-Type': 'application/xml'})
    assert_json_error(resp, 400, *words)
    assert api.snapshot() == before


def test_extra_segments_and_methods(api):
    assert_json_error(api.request('GET', 'transactioninfo/multisearch/extra',
                                  'project_id=1234a'), 404)
    resp = api.request('PATCH', 'users', '_id=10', {'first_name': 'X'})
    assert_json_error(resp, 405)
    assert 'PATCH' not in resp.headers['Allow']


def test_put_element_cap_is_a_413_before_rows_are_built(api):
    from pacifica.metadata.body import MAX_OBJECTS  # pylint: disable=import-outside-toplevel
    before = api.snapshot()
    raw = ('[' + ','.join(['{"keyword": "k"}'] * (MAX_OBJECTS + 1)) + ']').encode()
    resp = api.request('PUT', 'keywords', raw=raw)
    assert_json_error(resp, 413, str(MAX_OBJECTS))
    assert api.snapshot() == before

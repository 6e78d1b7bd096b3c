"""Every "500 on bad input" case of spec section 18 answers 400 or 404 with the JSON error
(and an empty traceback), and writes nothing."""
import pytest

from support import assert_json_error

CASES = [
    # non-numeric ids that passed upstream's prefix check
    ('GET', 'userinfo/by_id/10abc', None, 400, 'numeric person id'),
    ('GET', 'userinfo/search/10abc', None, 404, "'10abc'"),
    ('GET', 'instrumentinfo/by_instrument_id/54abc', None, 400, 'numeric instrument id'),
    ('GET', 'instrumentinfo/search/54x', None, 404, "'54x'"),
    ('GET', 'transactioninfo/by_id/67abc', None, 400, 'numeric transaction id'),
    ('GET', 'instrumentinfo/by_user_id/bob', None, 400, '"bob" is not a valid user ID'),
    ('GET', 'tkvinfo/kv_for_transaction/abc', None, 400, 'numeric transaction id'),
    ('GET', 'transactioninfo/release_state/abc', None, 400, "got 'abc'"),
    # missing required path parts
    ('GET', 'instrumentinfo/by_user_id', None, 400, 'not a valid user ID'),
    ('GET', 'transactioninfo/release_state', None, 400, 'transaction id'),
    ('GET', 'fileinfo/files_for_keyvalue/temp_f', None, 400, '/<key>/<value>'),
    ('POST', 'fileinfo/earliest_latest/project', ['1'], 400, 'time_basis'),
    ('GET', 'tkvinfo/values_for_key', None, 400, 'You must supply a key'),
    ('GET', 'tkvinfo/kv_for_transaction', None, 400, 'numeric transaction id'),
    ('POST', 'summaryinfo/by_date/modified/instrument/2020-01-01', [54], 400, 'end_date'),
    ('POST', 'summaryinfo/by_date', [54], 400, 'time_basis is missing'),
    # unexpected extra path segments (query parameters are ignored, see below)
    ('GET', 'userinfo/by_id/10/simple/extra', None, 404, 'Unexpected path segments: extra'),
    ('GET', 'transactioninfo/last/x', None, 404, 'Unexpected path segments: x'),
    ('GET', 'transactioninfo/multisearch/a/b/c/d/e', None, 404, 'Unexpected path segments'),
    ('GET', 'migrate/users/x', None, 404, 'Unexpected path segments'),
    ('PUT', 'ingest/x', [], 404, 'Unexpected path segments'),
    # bad dates
    ('GET', 'transactioninfo/search?start=x', None, 400, "start 'x' is not a date"),
    ('GET', 'transactioninfo/multisearch?start_time=x', None, 400, "start_time 'x'"),
    ('GET', 'transactioninfo/summary/bad/worse', None, 400, "start_date 'bad'"),
    ('GET', 'tkvinfo/values_for_key/temp_f/bad', None, 400, "start_time 'bad'"),
    ('GET', 'tkvinfo/values_for_key/temp_f/2020-02-01/2020-01-01', None, 400,
     'is not before'),
    ('GET', 'objectinfo/keys?updated=bad', None, 400, 'not a date'),
    # bad numbers
    ('GET', 'transactioninfo/search?item_count=abc', None, 400, "'item_count'"),
    ('GET', 'transactioninfo/search?page=abc', None, 400, "'page'"),
    ('GET', 'transactioninfo/search?instrument=abc', None, 400, "'instrument'"),
    ('GET', 'transactioninfo/multisearch?instrument_group_id=x', None, 400,
     'instrument_group_id'),
    # wrong body shapes
    ('POST', 'summaryinfo/transaction_details', {'a': 1}, 400, 'JSON array'),
    ('POST', 'summaryinfo/transaction_details', ['x'], 400, "'x'"),
    ('POST', 'summaryinfo/by_date/modified/instrument/2020-01-01/2020-02-01', 'x', 400,
     'JSON array'),
    ('POST', 'transactioninfo/release_state', {'67': 1}, 400, 'JSON array'),
    ('POST', 'tkvupload/upload_entries', [1, 2], 400, 'JSON object'),
    ('POST', 'fileinfo/file_details', 'abc', 400, 'JSON array'),
    ('POST', 'projectinfo/has_data', 'abc', 400, 'JSON array'),
    ('PUT', 'ingest', [{'destinationTable': 'Transactions._id', 'value': 1}], 400,
     'Transactions.submitter'),
    ('PUT', 'ingest', {'destinationTable': 'Files'}, 400, 'JSON array'),
    ('PUT', 'ingest', [{'destinationTable': 'Transactions._id'}], 400, "has no 'value'"),
    ('GET', 'objectinfo/nothing/hashlist', None, 404, "'nothing' is not a valid class"),
    ('POST', 'doiupload/new_entry', {'doi': 'x', 'meta': {'doi_infix': 'a.1'}}, 400,
     "'owner_network_id'"),
    ('POST', 'doiupload/new_entry', {'doi': 'x', 'owner_network_id': 'a',
                                     'meta': {'doi_infix': 'a.b'}}, 400,
     'does not end in a transaction id'),
]


@pytest.mark.parametrize('method, path, body, status, words', CASES,
                         ids=['{} {}'.format(c[0], c[1]) for c in CASES])
def test_bad_input_is_a_client_error(md_api, method, path, body, status, words):
    path, _, query = path.partition('?')
    before = md_api.snapshot() if method != 'GET' else None
    resp = md_api.request(method, path, query, body=body)
    assert_json_error(resp, status, words)
    if before is not None:
        assert md_api.snapshot() == before


def test_doi_update_without_content_type(md_api):
    resp = md_api.session.post(md_api.url + '/doiupload/update', data=b'<records/>')
    assert_json_error(resp, 415, 'application/xml, text/xml')


def test_malformed_json_bodies(md_api):
    for path in ('ingest', 'summaryinfo/transaction_details'):
        method = 'PUT' if path == 'ingest' else 'POST'
        resp = md_api.request(method, path, raw=b'{not json')
        assert_json_error(resp, 400, 'Invalid JSON document')
        resp = md_api.request(method, path, raw=b'[]', headers={'Content-Type': 'text/plain'})
        assert_json_error(resp, 415)


def test_extra_query_parameters_are_ignored(md_api):
    # pacifica-policy forwards its own query string to these endpoints
    assert md_api.get('transactioninfo/last', 'user=3&x=1') == {'latest_transaction_id': None}
    assert md_api.request('GET', 'instrumentinfo/search', 'user=3&page=2').text == '[]'
    assert md_api.request('GET', 'userinfo/by_id/5', 'user=3').status_code == 404

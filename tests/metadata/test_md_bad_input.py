"""Spec 10.1: every input upstream answered with a 500, plus the D1/D2/D5 write guards.

Each case asserts the 4xx with the standard JSON error (no traceback), the words that name
the problem, and that not one row of any table changed.
"""
import json

import pytest

from support import assert_json_error

SETUP = [
    ('users', [{'_id': 10, 'first_name': 'A'}, {'_id': 11, 'first_name': 'B'},
               {'_id': 500, 'first_name': 'soon deleted'}]),
    ('transactions', {'_id': 67}),
    ('files', {'_id': 103, 'name': 'f', 'transaction': 67}),
    ('keys', {'_id': 104, 'key': 'k'}),
    ('projects', {'_id': 'p1', 'title': 'P'}),
    ('groups', {'_id': 0, 'name': 'admin'}),
    ('user_group', {'user': 10, 'group': 0}),
]

CASES = [
    # GET parameters (10.1)
    ('GET', 'users', 'recursion_depth=2', None, 400, ['recursion_depth']),
    ('GET', 'users', 'recursion_depth=x', None, 400, ['recursion_depth']),
    ('GET', 'users', 'recursion_limit=x', None, 400, ['recursion_limit']),
    ('GET', 'users', 'page_number=x&items_per_page=1', None, 400, ['page_number']),
    ('GET', 'users', 'page_number=-1&items_per_page=1', None, 400, ['page_number']),
    ('GET', 'users', 'page_number=1&items_per_page=-5', None, 400, ['items_per_page']),
    ('GET', 'users', 'created=garbage', None, 400, ['created']),
    ('GET', 'users', 'created=1500076800', None, 400, ['created']),
    ('GET', 'users', 'created=Jul%202017', None, 400, ['created', 'full date']),
    ('GET', 'users', 'deleted=null', None, 400, ['deleted']),
    ('GET', 'users', 'created_operator=between&created=x&created_0=2017-01-01', None, 400,
     ['created_1']),
    ('GET', 'users', 'first_name_operator=foo&first_name=x', None, 400, ['unknown operator']),
    ('GET', 'users', 'first_name_operator=in&first_name=bob', None, 400, ['repeated']),
    ('GET', 'users', 'network_id_operator=is&network_id=null', None, 400, ["'is'"]),
    ('GET', 'users', 'first_name_operator=add&first_name=x', None, 400, ["'add'"]),
    ('GET', 'users', 'first_name_operator=between&first_name=x', None, 400, ['between']),
    ('GET', 'users', '_id=abc', None, 400, ['_id']),
    ('GET', 'users', '_id=99999999999', None, 400, ['_id']),
    ('GET', 'relationships', '_id=1', None, 400, ['_id']),
    ('GET', 'project_user', '_id=abc', None, 400, ['_id']),
    ('GET', 'user_group', '_id=1', None, 400, ['_id']),
    ('GET', 'doi_entries', '_id=1', None, 400, ['_id']),
    ('GET', 'files', 'transaction=abc', None, 400, ['transaction']),
    ('GET', 'files', 'transaction_id=abc', None, 400, ['transaction']),
    ('GET', 'files', 'size_operator=like&size=1%25', None, 400, ['like']),
    ('GET', 'project_user', 'relationship=not-a-uuid', None, 400, ['relationship']),
    ('GET', 'users', '_id=1&_id=2', None, 400, ['_id']),
    ('GET', 'keys', 'key=a&key=b', None, 400, ['key']),
    ('GET', 'institutions', 'is_foreign=maybe', None, 400, ['is_foreign']),
    ('GET', 'users/10', '', None, 404, ['Nothing matches']),
    ('GET', 'users/10/x', '', None, 404, ['Nothing matches']),
    ('GET', 'nonexistent', '', None, 404, ['Nothing matches']),
    # PUT bodies (10.1)
    ('PUT', 'users', '', 'string', 400, ['JSON object']),
    ('PUT', 'users', '', [1, 2], 400, ['JSON object']),
    ('PUT', 'users', '', [{'_id': 900}, None], 400, ['JSON object']),
    ('PUT', 'files', '', {'_id': 901, 'transaction': 99999}, 400, ['transaction', '99999']),
    ('PUT', 'files', '', {'_id': 902}, 400, ['transaction', 'required']),
    ('PUT', 'files', '', {'_id': 903, 'transaction': 'abc'}, 400, ['transaction']),
    ('PUT', 'users', '', {'_id': 500}, 400,
     ['Could not insert records [ID: 500] due to duplicated ID values. '
      'Remove or change the duplicated id values']),
    ('PUT', 'users', '', [{'_id': 600}, {'_id': 600}], 400, ['[ID: 600]']),
    ('PUT', 'users', '', [{'_id': 10}, {'_id': 11}, {'_id': 601}], 400, ['[ID: 10,11]']),
    ('PUT', 'project_user', '', {'user': 10, 'project': 'p1', 'relationship': 'bad'}, 400,
     ['relationship']),
    ('PUT', 'project_user', '', {'user': 10, 'project': 'p1', 'relationship_name': 'nope'},
     400, ['relationship_name', 'nope']),
    ('PUT', 'users', '', {'_id': 904, 'created': 1.5}, 400, ['created']),
    ('PUT', 'users', '', {'_id': 905, 'created': None}, 400, ['created']),
    ('PUT', 'users', '', {'_id': 906, 'first_name': None}, 400, ['first_name']),
    ('PUT', 'users', '', {'_id': 907, 'first_name': 'x' * 256}, 400, ['first_name', '255']),
    ('PUT', 'users', '', {'_id': 908, 'first_name': 'nul\x00'}, 400, ['NUL']),
    ('PUT', 'users', '', {'_id': 909, 'first_name': {'a': 1}}, 400, ['first_name']),
    ('PUT', 'projects', '', {'title': 'no id'}, 400, ['_id', 'required']),
    ('PUT', 'transsip', '', {'submitter': 10}, 400, ['required']),
    ('PUT', 'files', '', {'_id': 910, 'transaction': 67, 'size': 'x'}, 400, ['size']),
    ('PUT', 'journals', '', {'_id': 911, 'impact_factor': 'x'}, 400, ['impact_factor']),
    ('PUT', 'journals', '', {'_id': 914, 'impact_factor': 10 ** 400}, 400, ['impact_factor']),
    ('PUT', 'journals', '', {'_id': 915, 'impact_factor': 'NaN'}, 400, ['impact_factor']),
    ('PUT', 'journals', '', {'_id': 916, 'impact_factor': 1e39}, 400, ['impact_factor']),
    ('PUT', 'files', '', {'_id': 917, 'transaction': 67, 'size': 2 ** 63}, 400, ['size']),
    ('PUT', 'users', '', {'_id': 918, 'created': 10 ** 30}, 400, ['created']),
    ('PUT', 'users', '', {'_id': None, 'first_name': 'x', 'created': '2017-13-45'}, 400,
     ['created']),
    ('PUT', 'institutions', '', {'_id': 912, 'is_foreign': 'no way'}, 400, ['is_foreign']),
    ('PUT', 'relationships', '', {'name': 'member_of'}, 400, ['conflict']),
    ('PUT', 'users', '', {'_id': 913, 'created': '2017'}, 400, ['created']),
    # POST (10.1, D1, D5)
    ('POST', 'users', '_id=10', [1], 400, ['JSON object']),
    ('POST', 'users', '_id=10', {'updated': None}, 400, ['updated']),
    ('POST', 'users', '_id=99999', {'first_name': 'x'}, 404,
     ["Get args didn't select any objects."]),
    ('POST', 'users', '', {'first_name': 'x'}, 400, ['filter']),
    ('POST', 'users', 'frist_name=A', {'first_name': 'x'}, 400, ['frist_name']),
    ('POST', 'users', '_id=10', {'_id': 11}, 400, ['_id', 'primary key']),
    ('POST', 'user_group', 'user=10', {'group': 5}, 400, ['group']),
    ('POST', 'files', '_id=103', {'transaction': 4242}, 400, ['transaction']),
    # DELETE (10.1, D1, D2, D8)
    ('DELETE', 'users', '_id=99999', None, 404, ["Get args didn't select any objects."]),
    ('DELETE', 'users', '', None, 400, ['filter']),
    ('DELETE', 'users', 'force=true', None, 400, ['filter']),
    ('DELETE', 'users', 'deleted=', None, 400, ['filter']),
    ('DELETE', 'users', '_id=10&force=maybe', None, 400, ['force']),
    ('DELETE', 'users', '_id=10&force=1&recursive=perhaps', None, 400, ['recursive']),
    ('DELETE', 'users', '_idd=10', None, 400, ['_idd']),
    ('DELETE', 'transactions', '_id=67&force=true', None, 400, ['recursive']),
    ('DELETE', 'transactions', '_id=67&force=true&recursive=false', None, 400, ['recursive']),
]


@pytest.fixture(scope='module')
def api(md_api):
    """A server whose database holds a few rows, one of them soft-deleted."""
    for name, body in SETUP:
        md_api.ok('PUT', name, body=body)
    md_api.ok('DELETE', 'users', '_id=500')
    return md_api


@pytest.mark.parametrize('method, path, query, body, status, words', CASES,
                         ids=['{} {}?{} {}'.format(c[0], c[1], c[2], json.dumps(c[3])[:40])
                              for c in CASES])
def test_refused_and_nothing_written(api, method, path, query, body, status, words):
    before = api.snapshot()
    resp = api.request(method, path, query, body)
    assert_json_error(resp, status, *words)
    assert api.snapshot() == before


@pytest.mark.parametrize('method, headers, raw, status, message', [
    ('PUT', {'Content-Type': 'text/plain'}, b'{}', 415,
     'Expected an entity of content type application/json, text/javascript'),
    ('POST', {'Content-Type': 'application/x-www-form-urlencoded'}, b'a=1', 415,
     'Expected an entity of content type application/json, text/javascript'),
    ('PUT', {}, b'{bad', 400, 'Invalid JSON document'),
    ('PUT', {}, b'', 400, 'Invalid JSON document'),
    ('PUT', {}, b'[' * 100000 + b']' * 100000, 400, 'Invalid JSON document'),
    ('PATCH', {}, b'{}', 405, 'Specified method is invalid for this resource'),
])
def test_body_errors(api, method, headers, raw, status, message):
    before = api.snapshot()
    resp = api.request(method, 'users', '_id=10' if method == 'POST' else '', raw=raw,
                       headers=headers)
    assert_json_error(resp, status, message)
    if status == 405:
        assert resp.headers['Allow'] == 'DELETE, GET, HEAD, POST, PUT'
    assert api.snapshot() == before


def test_missing_length_is_411(api):
    import http.client  # pylint: disable=import-outside-toplevel
    conn = http.client.HTTPConnection('127.0.0.1', api.server.port, timeout=10)
    conn.putrequest('PUT', '/users')
    conn.putheader('Content-Type', 'application/json')
    conn.endheaders()
    resp = conn.getresponse()
    body = json.loads(resp.read())
    assert resp.status == 411 and body['message'] == 'Client must specify Content-Length'
    conn.close()


def test_regexp_needs_postgresql(api):
    resp = api.request('GET', 'users', 'first_name_operator=regexp&first_name=^A')
    if api.db_url.startswith('sqlite'):
        assert_json_error(resp, 400, 'PostgreSQL')
    else:
        assert resp.status_code == 200
        assert [u['_id'] for u in resp.json()] == [10]


def test_unknown_get_parameters_are_ignored(api):
    assert [u['_id'] for u in api.get('users', '_id=10&cachebuster=123')] == [10]


def test_writes_that_succeed_after_the_refusals(api):
    """The guards leave legitimate writes alone: same-key POST, recursive force delete."""
    api.ok('POST', 'users', '_id=10', {'_id': 10, 'last_name': 'Same key'})
    assert api.get('users', '_id=10')[0]['last_name'] == 'Same key'
    api.ok('PUT', 'keys', body={'key': 'sequence-assigned'})
    api.ok('DELETE', 'transactions', '_id=67&force=yes&recursive=true')
    assert api.get('files', '_id=103&deleted=') == []
    # a force delete that matches nothing is still fine (and sends no event)
    api.ok('DELETE', 'transactions', '_id=67&force=true')

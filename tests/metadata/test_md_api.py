"""The generic API's behaviour through real HTTP: routing, paging and ordering, bulk PUT,
sequences after explicit ids (D6), dates (4.7, D15), NULL handling (D14), the config file."""
import json
import time

import pytest
import requests

from support import start_service


def test_root_and_routing(md_api):
    resp = requests.get(md_api.url + '/', timeout=10)
    assert resp.json() == {'message': 'Pacifica Metadata Up and Running'}
    assert resp.headers['Allow'] == 'GET, HEAD'
    assert md_api.get('users/') == md_api.get('users')
    head = md_api.request('HEAD', 'users', '_id=1')
    assert head.status_code == 200 and head.content == b''
    assert head.headers['Content-Type'] == 'application/json'
    assert md_api.request('HEAD', 'users', '_id=x').status_code == 400
    # a parameter named like the handler's own argument is just an unknown parameter
    assert md_api.get('users', 'self=1&params=2') == md_api.get('users')


def test_paging_and_ordering(md_api):
    md_api.ok('PUT', 'keywords', body=[{'_id': n, 'keyword': 'k{}'.format(n)}
                                       for n in (5, 3, 9, 1, 7)])
    ids = [k['_id'] for k in md_api.get('keywords', 'recursion_depth=0')]
    assert ids == [1, 3, 5, 7, 9]
    page = 'recursion_depth=0&items_per_page=2&page_number='
    assert [k['_id'] for k in md_api.get('keywords', page + '2')] == [5, 7]
    assert [k['_id'] for k in md_api.get('keywords', page + '0')] == [1, 3]
    assert [k['_id'] for k in md_api.get('keywords', page + '3')] == [9]
    # _id takes operators like any other field (upstream ignored _id_operator)
    assert [k['_id'] for k in md_api.get('keywords', '_id=3&_id_operator=gt')] == [5, 7, 9]
    assert [k['_id'] for k in md_api.get('keywords', '_id=3&_id=9&_id_operator=in')] == [3, 9]
    assert md_api.get('keywords', 'items_per_page=0&page_number=1') == []
    # pagination only applies when both parameters are present
    assert len(md_api.get('keywords', 'items_per_page=2')) == 5


def test_sequence_moves_past_explicit_ids(md_api):
    md_api.ok('PUT', 'keys', body=[{'_id': 103, 'key': 'a'}, {'_id': 104, 'key': 'b'}])
    md_api.ok('PUT', 'keys', body=[{'key': 'c'}, {'key': 'd'}])
    md_api.ok('PUT', 'keys', body=[{'_id': 200, 'key': 'e'}, {'key': 'f'}])
    keys = {k['key']: k['_id'] for k in md_api.get('keys', 'recursion_depth=0')}
    assert keys['c'] > 104 and keys['d'] > 104 and keys['f'] > 200
    assert len(set(keys.values())) == len(keys)


def test_bulk_put_is_one_transaction(md_api):
    md_api.ok('PUT', 'transactions', body={'_id': 1})
    rows = [{'_id': 10000 + n, 'name': 'f{}'.format(n), 'transaction': 1,
             'hashsum': '{:040x}'.format(n)} for n in range(1000)]
    started = time.monotonic()
    md_api.ok('PUT', 'files', body=rows)
    assert time.monotonic() - started < 10
    assert len(md_api.get('files', 'recursion_depth=0&transaction=1')) == 1000
    assert md_api.get('files', 'hashsum={:040x}'.format(999))[0]['_id'] == 10999
    # one bad element (the last) and none of the 1,000 is written
    bad = [dict(row, _id=row['_id'] + 5000) for row in rows]
    bad[-1]['transaction'] = 424242
    assert md_api.request('PUT', 'files', body=bad).status_code == 400
    assert md_api.get('files', '_id=15000') == []
    md_api.ok('DELETE', 'files', 'transaction=1&force=true')


@pytest.mark.parametrize('given, stored', [
    ('2017-07-15T10:00:00+05:00', '2017-07-15T05:00:00'),
    ('2017-07-15T10:00:00Z', '2017-07-15T10:00:00'),
    ('2017-07-15T10:00:00.987654', '2017-07-15T10:00:00'),
    ('Mon Jul 17 10:00:00 2017', '2017-07-17T10:00:00'),
    ('01/02/2003', '2003-01-02T00:00:00'),
    ('20170715', '2017-07-15T00:00:00'),
    (1500076800, '2017-07-15T00:00:00'),
])
def test_dates_are_stored_as_naive_utc_seconds(md_api, given, stored):
    md_api.ok('PUT', 'transactions', body={'_id': 900, 'created': given,
                                           'suspense_date': given})
    row = md_api.get('transactions', '_id=900&recursion_depth=0')[0]
    assert row['created'] == stored and row['suspense_date'] == stored[:10]
    assert len(md_api.get('transactions', '_id=900&created=' + stored)) == 1
    md_api.ok('DELETE', 'transactions', '_id=900&force=true')


def test_null_handling(md_api):
    md_api.ok('PUT', 'projects', body={'_id': 'np', 'title': 'T', 'short_name': None,
                                       'abstract': None})
    project = md_api.get('projects', '_id=np&recursion_depth=0')[0]
    assert project['short_name'] is None and project['abstract'] is None   # D14
    assert project['science_theme'] is None and project['accepted_date'] is None
    assert project['project_type'] == ''
    md_api.ok('PUT', 'users', body={'_id': 77, 'network_id': None})
    assert md_api.get('users', '_id=77')[0]['network_id'] is None
    md_api.ok('POST', 'projects', '_id=np', {'accepted_date': '2020-02-03', 'abstract': 'x'})
    project = md_api.get('projects', '_id=np')[0]
    assert project['accepted_date'] == '2020-02-03' and project['abstract'] == 'x'
    md_api.ok('POST', 'projects', '_id=np', {'accepted_date': None})
    assert md_api.get('projects', '_id=np')[0]['accepted_date'] is None


def test_soft_delete_undelete_and_visibility(md_api):
    md_api.ok('PUT', 'analytical_tools', body=[{'_id': 1, 'name': 'a'}, {'_id': 2, 'name': 'b'}])
    md_api.ok('DELETE', 'analytical_tools', '_id=1')
    assert [t['_id'] for t in md_api.get('analytical_tools')] == [2]
    assert [t['_id'] for t in md_api.get('analytical_tools', 'deleted=')] == [1, 2]
    # a POST without deleted= cannot see the soft-deleted row ...
    assert md_api.request('POST', 'analytical_tools', '_id=1', {'name': 'x'}).status_code == 404
    # ... but can un-delete it when asked to look
    md_api.ok('POST', 'analytical_tools', '_id=1&deleted=', {'deleted': None})
    assert [t['_id'] for t in md_api.get('analytical_tools')] == [1, 2]


def test_relationship_rule_and_uuid_spellings(md_api):
    md_api.ok('PUT', 'users', body={'_id': 5})
    md_api.ok('PUT', 'projects', body={'_id': 'rp', 'title': 'R'})
    member = md_api.get('relationships', 'name=member_of')[0]['uuid']
    custodian = md_api.get('relationships', 'name=custodian')[0]['uuid']
    md_api.ok('PUT', 'project_user', body={
        'uuid': '{0a0a0a0a-0000-4000-8000-000000000001}', 'user': 5, 'project': 'rp',
        'relationship': custodian.replace('-', ''), 'relationship_name': 'member_of'})
    row = md_api.get('project_user', 'uuid=0a0a0a0a000040008000000000000001')[0]
    assert row['uuid'] == '0a0a0a0a-0000-4000-8000-000000000001'
    assert row['relationship'] == custodian        # relationship wins over the name
    md_api.ok('POST', 'project_user', 'uuid=0a0a0a0a-0000-4000-8000-000000000001',
              {'relationship_name': 'member_of'})
    assert md_api.get('project_user', 'relationship=' + member)[0]['user'] == 5


def test_config_flag_names_the_service_ini(md_db_url, md_start, tmp_path):
    """D17: ``-c`` is honoured: the INI's database and notification settings are used."""
    server, env = md_start(tmp_path, md_db_url)
    server.stop()
    ini = tmp_path / 'metadata.ini'
    ini.write_text('[database]\npeewee_url = {}\n[notifications]\ndisabled = true\n'.format(
        md_db_url.replace('%', '%%')))
    env['PEEWEE_URL'] = 'postgresql://nobody@127.0.0.1:1/none'
    server = start_service('pacifica.metadata', tmp_path, env, args=['-c', str(ini)])
    try:
        assert requests.get(server.url + '/users', timeout=10).status_code == 200
    finally:
        server.stop()


def test_wsgi_application(md_db_url, md_start, tmp_path):
    """``pacifica.metadata.wsgi:application`` serves the same API (config from the env)."""
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    server, env = md_start(tmp_path, md_db_url)
    server.stop()
    code = '\n'.join([
        'import io, json, wsgiref.util',
        'from pacifica.metadata.wsgi import application',
        'def call(method, path, query=""):',
        '    environ = {"REQUEST_METHOD": method, "PATH_INFO": path, "QUERY_STRING": query}',
        '    wsgiref.util.setup_testing_defaults(environ)',
        '    status = []',
        '    body = b"".join(application(environ, lambda s, h, e=None: status.append(s)))',
        '    return status[0], body',
        'print(json.dumps([call("GET", "/"), call("GET", "/users", "_id=x")],',
        '                 default=lambda b: b.decode()))',
    ])
    done = subprocess.run([sys.executable, '-c', code], env=env, capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    (root_status, root_body), (bad_status, bad_body) = json.loads(done.stdout.splitlines()[-1])
    assert root_status.startswith('200') and 'Metadata Up and Running' in root_body
    assert bad_status.startswith('400') and "'_id'" in json.loads(bad_body)['message']


def test_concurrent_puts_of_one_id(md_api):
    """D7: of eight simultaneous PUTs of the same new id one wins, the rest get the 400."""
    import threading  # pylint: disable=import-outside-toplevel
    results = []

    def put():
        resp = requests.put(md_api.url + '/keywords', data=json.dumps({'_id': 4242}),
                            headers={'Content-Type': 'application/json'}, timeout=30)
        results.append((resp.status_code, resp.json()))

    threads = [threading.Thread(target=put) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(code for code, _ in results) == [200] + [400] * 7
    assert all(body['message'].startswith('Could not insert records [ID: 4242] due to '
                                          'duplicated ID values')
               for code, body in results if code == 400)


def test_huge_page_is_a_400(md_api):
    resp = md_api.request('GET', 'users', 'page_number=9223372036854775807&items_per_page=9')
    assert resp.status_code == 400

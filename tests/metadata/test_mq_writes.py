"""The writing query endpoints: ``/tkvupload/upload_entries`` and ``/doiupload/*`` (spec 10,
11): atomic, idempotent, and their events sent after the commit."""
import pytest

from metadata.mq_dataset import ROWS, load
from support import assert_json_error

DOI = '10.25584/data.2018-08.67/1473613'
NEW_ENTRY = {'doi': DOI, 'id': 1, 'owner_network_id': 'BJohn', 'title': 'ignored',
             'meta': {'doi_infix': 'data.2018-08.67', 'site_url': 'https://example.org/67',
                      'title': 'Test DOI for upload 67', 'keywords': ['nmr', 7],
                      'authors': [{'name': 'x'}], 'empty': ''}}
OSTI = """<?xml version="1.0" encoding="UTF-8"?>
<records numfound="{count}"><record status="Completed" released="Y">
<osti_id>1473613</osti_id><doi>{doi}</doi><title>Updated title</title>
<publication_date>07/14/2018</publication_date><release_date>none</release_date>
<creatorsblock><creators_detail><first_name>Ann</first_name><last_name>Lee</last_name>
<affiliation_name>PNNL</affiliation_name><private_email>ann@x.org</private_email>
<orcid_id>0000-0001</orcid_id></creators_detail><creators_detail><first_name>Bo</first_name>
<last_name>Ng</last_name></creators_detail></creatorsblock></record></records>"""


@pytest.fixture(scope='module')
def api(md_events_api, receiver):
    """A server with notifications on and the catalog loaded."""
    load(md_events_api)
    receiver.discard(len(ROWS))
    return md_events_api


def test_tkvupload_is_atomic_and_idempotent(api, receiver):
    before = api.snapshot()
    resp = api.request('POST', 'tkvupload/upload_entries',
                       body={'67': {'organism_name': 'Homo_sapiens'}, '4242': {'a': 1}})
    assert_json_error(resp, 400, 'no transaction with id 4242')
    assert api.snapshot() == before
    body = {'67': {'ncbi_taxonomy_id': 9606, 'organism_name': 'Homo_sapiens', 'ok': True},
            '68': {'organism_name': 'Homo_sapiens', 'temp_f': '19'}}
    for _ in range(2):
        resp = api.request('POST', 'tkvupload/upload_entries', body=body)
        assert resp.status_code == 200 and resp.text == '{"status": "success"}'
    assert api.get('tkvinfo/kv_for_transaction/67') == {
        'temp_f': '27', 'ncbi_taxonomy_id': '9606', 'organism_name': 'Homo_sapiens',
        'ok': 'True'}
    assert api.get('tkvinfo/values_for_key/organism_name') == {'Homo_sapiens': [67, 68]}
    assert [k['display_name'] for k in api.get('keys', 'key=organism_name')] == ['']
    assert [v['display_name'] for v in api.get('values', 'value=Homo_sapiens')] == ['']
    assert len(api.get('trans_key_value', 'transaction=68')) == 2
    receiver.quiet(0.2)     # no events for tkvupload (spec 13.4)
    for bad in ([], 'x', {'67': ['a']}, {'67': {'k': None}}, {'x': {'k': 1}},
                {'67': {'k\ud800': 'v'}}, {'67': {'k': 'a\x00b'}}):
        assert_json_error(api.request('POST', 'tkvupload/upload_entries', body=bad), 400)
    assert api.request('GET', 'tkvupload/upload_entries').status_code == 405


def test_doi_new_entry(api, receiver):
    resp = api.request('POST', 'doiupload/new_entry', body=[NEW_ENTRY])
    assert resp.status_code == 200, resp.text
    assert resp.json() == [{'entry': DOI, 'was_created': True}]
    event, = receiver.take(1)
    assert event['eventType'] == 'org.pacifica.metadata.doientry'
    assert event['source'] == 'http://metadata.pacifica.org/doientry'
    assert event['eventID'].startswith('metadata.doi.')
    assert event['data'] == [{'entry': DOI, 'was_created': True}]
    entry = api.get('doi_entries', 'doi=' + DOI)[0]
    assert (entry['status'], entry['released'], entry['creator']) == ('pending', False, 11)
    info = {row['key']: row['value'] for row in api.get('doi_info', 'doi=' + DOI)}
    assert info == {'doi_infix': 'data.2018-08.67', 'site_url': 'https://example.org/67',
                    'title': 'Test DOI for upload 67', 'keywords': 'nmr, 7',
                    'minting_api_id': '1'}
    # again, with a changed minting id and title: updates, no new link (upstream: a 500)
    again = dict(NEW_ENTRY, id=2, meta=dict(NEW_ENTRY['meta'], title='New title'))
    resp = api.request('POST', 'doiupload/new_entry', body=again)
    assert resp.json() == [{'entry': DOI, 'was_created': False}]
    receiver.take(1)
    info = {row['key']: row['value'] for row in api.get('doi_info', 'doi=' + DOI)}
    assert info['minting_api_id'] == '2' and info['title'] == 'New title'
    state = api.get('transactioninfo/release_state/67')['67']['release_doi_entries']
    assert [d['doi_reference'] for d in state] == ['10.25584/data.67/1', DOI]


def test_doi_new_entry_refusals_write_nothing(api, receiver):
    before = api.snapshot()
    unreleased = dict(NEW_ENTRY, doi='10.1/68', meta=dict(NEW_ENTRY['meta'],
                                                         doi_infix='data.2018-08.68'))
    # the good first item is not kept when the second is refused (one transaction)
    resp = api.request('POST', 'doiupload/new_entry',
                       body=[dict(NEW_ENTRY, doi='10.1/fresh'), unreleased])
    assert_json_error(resp, 400, 'Transaction 68 has not been released')
    resp = api.request('POST', 'doiupload/new_entry',
                       body=dict(NEW_ENTRY, owner_network_id='nobody'))
    assert_json_error(resp, 404)
    assert resp.reason == 'No Valid Users Located'
    no_owner = {k: v for k, v in NEW_ENTRY.items() if k != 'owner_network_id'}
    assert_json_error(api.request('POST', 'doiupload/new_entry', body=no_owner), 400,
                      "'owner_network_id'")
    assert_json_error(api.request('POST', 'doiupload/new_entry', body=[3]), 400)
    assert api.snapshot() == before
    receiver.quiet(0.2)


def test_doi_update(api, receiver):
    api.request('POST', 'doiupload/new_entry', body=NEW_ENTRY)
    receiver.take(1)
    xml = OSTI.format(count=1, doi=DOI).encode('utf-8')
    resp = api.request('POST', 'doiupload/update', raw=xml,
                       headers={'Content-Type': 'application/xml'})
    assert resp.status_code == 200, resp.text
    assert resp.text == '"{}"'.format(DOI)
    event, = receiver.take(1)
    assert event['eventType'] == 'org.pacifica.metadata.doiupdate'
    assert event['source'] == 'http://metadata.pacifica.org/doientry?doi=' + DOI
    assert event['data'] == DOI
    entry = api.get('doi_entries', 'doi=' + DOI)[0]
    assert (entry['status'], entry['released']) == ('completed', True)
    info = {row['key']: row['value'] for row in api.get('doi_info', 'doi=' + DOI)}
    assert info['title'] == 'Updated title' and info['publication_date'] == '2018-07-14'
    assert info['release_date'] == 'none' and info['osti_id'] == '1473613'
    authors = api.get('doi_author_mapping', 'doi=' + DOI)
    assert sorted(a['author_order'] for a in authors) == [1, 2]
    # the same document again: no second author rows
    api.request('POST', 'doiupload/update', raw=xml, headers={'Content-Type': 'text/xml'})
    receiver.take(1)
    assert len(api.get('doi_authors')) == 2

    before = api.snapshot()
    cases = [
        (OSTI.format(count=1, doi='10.9/missing'), 'application/xml', 404,
         'DOI Entry 10.9/missing does not exist'),
        (OSTI.format(count=0, doi=DOI), 'application/xml', 404,
         'No DOI Entries found in this XML'),
        ('bob', 'application/xml', 400, 'Bad Request: Invalid XML Document'),
        (OSTI.format(count=1, doi=DOI), 'application/json', 415,
         'Expected an entity of content type application/xml, text/xml'),
        (OSTI.format(count=1, doi=DOI), 'text/plain; charset=utf-8', 415, 'text/xml'),
        (OSTI.format(count=1, doi=DOI), '', 415, 'application/xml'),
    ]
    for raw, content_type, status, words in cases:
        resp = api.request('POST', 'doiupload/update', raw=raw.encode('utf-8'),
                           headers={'Content-Type': content_type})
        assert_json_error(resp, status, words)
    assert api.snapshot() == before
    # no <creatorsblock> and an empty date element are simply absent data (spec 18)
    bare = ('<records numfound="1"><record status="Pending" released="N"><doi>{}</doi>'
            '<publication_date></publication_date></record></records>').format(DOI)
    resp = api.request('POST', 'doiupload/update', raw=bare.encode(),
                       headers={'Content-Type': 'application/xml'})
    assert resp.status_code == 200, resp.text
    receiver.take(1)
    assert api.get('doi_entries', 'doi=' + DOI)[0]['status'] == 'pending'
    # media type parameters are not part of the type
    for content_type in ('application/xml; charset=utf-8', 'Text/XML ;charset="UTF-8"'):
        resp = api.request('POST', 'doiupload/update', raw=xml,
                           headers={'Content-Type': content_type})
        assert resp.status_code == 200, (content_type, resp.text)
        receiver.take(1)
    assert api.get('doi_entries', 'doi=' + DOI)[0]['status'] == 'completed'


def test_doi_update_modified_time(api, receiver):
    resp = api.request('POST', 'doiupload/update_modified_time', body=[DOI, 'nope'])
    assert resp.status_code == 200 and '"num_records_updated": 1' in resp.text
    assert api.request('POST', 'doiupload/update_modified_time', body=[]).json() == {
        'num_records_updated': 0}
    assert_json_error(api.request('POST', 'doiupload/update_modified_time', body={}), 400)
    receiver.quiet(0.2)


def test_containers_and_methods(api):
    for path in ('userinfo', 'projectinfo', 'instrumentinfo', 'transactioninfo', 'summaryinfo',
                 'fileinfo', 'tkvinfo', 'tkvupload', 'doiupload', 'migrate', 'userinfo/foo'):
        assert api.request('GET', path).status_code == 405, path
        assert api.request('POST', path, body=[]).status_code == 405, path
    assert api.request('GET', 'nothing_here').status_code == 404
    assert api.request('GET', 'doiupload/new_entry').status_code == 405
    assert api.request('PUT', 'transactioninfo/by_id/67', body=[]).status_code == 405


def test_head_and_allow(api):
    resp = api.request('HEAD', 'userinfo/by_id/10')
    assert resp.status_code == 200 and resp.content == b''
    resp = api.request('POST', 'transactioninfo/by_id/67', body=[])
    assert resp.status_code == 405
    assert sorted(resp.headers['Allow'].replace(' ', '').split(',')) == ['GET', 'HEAD']
    resp = api.request('GET', 'ingest')
    assert resp.status_code == 405 and 'PUT' in resp.headers['Allow']


def test_batch_put_stores_what_the_orm_stores(api, receiver):
    """PUT writes its rows with its own multi-row INSERT, binding most values as they are;
    what it stores is what the ORM's UPDATE stores, so one filter finds both alike."""
    stamp = '2021-03-04T05:06:07+02:00'   # 03:06:07 UTC
    batch = [{'_id': 7001 + n, 'name': 'batch{}'.format(n), 'transaction': 67,
              'ctime': stamp, 'size': 5, 'mimetype': 'text/plain'} for n in range(2)]
    batch.append({'name': 'batch-auto', 'transaction': 67, 'ctime': stamp})
    api.ok('PUT', 'files', body=batch)
    api.ok('PUT', 'files', body={'_id': 7010, 'name': 'orm', 'transaction': 67})
    api.ok('POST', 'files', '_id=7010', body={'ctime': stamp, 'size': 5,
                                              'mimetype': 'text/plain'})
    receiver.take(3)
    found = {f['name']: f for f in api.get('files', 'ctime=2021-03-04T03:06:07')}
    assert sorted(found) == ['batch-auto', 'batch0', 'batch1', 'orm']
    assert {(f['ctime'], f['size'], f['mimetype'], f['hashtype'], f['encoding'],
             f['transaction'], f['deleted']) for name, f in found.items()
            if name != 'batch-auto'} == {
        ('2021-03-04T03:06:07', 5, 'text/plain', 'sha1', 'UTF8', 67, None)}
    assert found['batch-auto']['size'] == -1 and found['batch-auto']['mimetype'] == ''
    created = found['batch0']['created']
    assert found['batch1']['created'] == created and found['batch-auto']['created'] == created
    assert len(api.get('files', 'created={}&name=batch0'.format(created))) == 1

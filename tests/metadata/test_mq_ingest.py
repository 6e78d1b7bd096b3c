"""``PUT /ingest`` (spec 13): all or nothing, set-based, the events after the commit."""
import copy

import pytest

from metadata.mq_dataset import ingest_document as document


@pytest.fixture(scope='module')
def api(md_events_api, receiver):
    """A server with notifications on, and the users/project/instrument ingest refers to."""
    md_events_api.ok('PUT', 'users', body=[{'_id': 10}, {'_id': 11, 'deleted': '2020-01-01'}])
    md_events_api.ok('PUT', 'projects', body={'_id': '1234a', 'title': 'P'})
    md_events_api.ok('PUT', 'instruments', body={'_id': 54, 'name': 'I'})
    md_events_api.ok('PUT', 'keys', body={'_id': 900, 'key': 'Tag'})  # reused, not duplicated
    receiver.take(4)
    return md_events_api


def _bad(entry_index, **change):
    doc = document(tid=5000, first_file=5000)
    doc[entry_index].update(change)
    return doc


def _without(entry_index, key):
    doc = document(tid=5000, first_file=5000)
    del doc[entry_index][key]
    return doc


BAD_DOCUMENTS = [
    ('not a list', {'destinationTable': 'Files'}, 'non-empty JSON array'),
    ('empty', [], 'non-empty JSON array'),
    ('entry not an object', document()[:3] + [7], 'entry 3 is not a JSON object'),
    ('no transaction id', document()[:-1], 'no Transactions._id entry'),
    ('no submitter', document()[1:], 'no Transactions.submitter'),
    ('id not a number', _bad(-1, value='x'), "'value' must be an integer"),
    ('hashtype empty', _bad(6, hashtype=''), 'Invalid metadata for file 5000'),
    ('hashtype upper', _bad(7, hashtype='SHA1'), 'Invalid metadata for file 5001'),
    ('hashsum short', _bad(6, hashsum='abc'), 'hashsum must be 40 hex digits'),
    ('hashsum not hex', _bad(6, hashsum='z' * 40), 'not plain hexadecimal'),
    ('hashsum 0x', _bad(6, hashsum='0x' + 'a' * 38), 'not plain hexadecimal'),
    ('hashsum underscore', _bad(6, hashsum='a_' * 20), 'not plain hexadecimal'),
    ('hashsum sign', _bad(6, hashsum='+' + 'a' * 39), 'not plain hexadecimal'),
    ('hashsum spaces', _bad(6, hashsum=' ' + 'a' * 38 + ' '), 'not plain hexadecimal'),
    ('mtime year 1', _bad(6, mtime='0001-01-01T00:00:00'), 'before 1900'),
    ('ctime 1899', _bad(6, ctime='1899-12-31T23:59:59'), 'before 1900'),
    ('project surrogate', _bad(1, value='x\ud800'), 'not valid Unicode'),
    ('tkv value NUL', _bad(3, value='a\u0000b'), 'NUL'),
    ('mimetype', _bad(6, mimetype='bogus'), 'mimetype'),
    ('bad mtime', _bad(6, mtime='not a date'), 'mtime'),
    ('bad size', _bad(6, size='big'), 'size'),
    ('ctime 30 February', _bad(6, ctime='2020-02-30T00:00:00'), "ctime '2020-02-30T00:00:00' is"),
    ('mtime hour 24', _bad(7, mtime='2020-01-02T24:00:00'), 'is not a date'),
    ('file key missing', _without(7, 'hashsum'), "has no 'hashsum'"),
    ('tkv value object', _bad(3, value={'a': 1}), "'value' must be a string or number"),
    ('key too long', _bad(3, key='k' * 300), 'the limit is 255'),
    ('unknown submitter', _bad(0, value=999), 'Transactions.submitter 999'),
    ('deleted submitter', _bad(0, value=11), 'Transactions.submitter 11'),
    ('unknown project', _bad(1, value='nope'), "Transactions.project 'nope'"),
    ('unknown instrument', _bad(2, value=998), 'Transactions.instrument 998'),
    ('unknown fkv file', _bad(8, file_id=424242), '424242'),
    ('file id twice', _bad(7, _id=5000), 'appears twice'),
]


@pytest.mark.parametrize('label, doc, words', BAD_DOCUMENTS, ids=[b[0] for b in BAD_DOCUMENTS])
def test_bad_document_writes_nothing_and_sends_nothing(api, receiver, label, doc, words):
    from support import assert_json_error  # pylint: disable=import-outside-toplevel
    before = api.snapshot()
    resp = api.request('PUT', 'ingest', body=doc)
    assert_json_error(resp, 400, words)
    assert api.snapshot() == before, label
    receiver.quiet(0.05)


def test_ingest_writes_everything_and_one_event_after_commit(api, receiver):
    doc = document()
    seen_at_event = []

    def look(event):
        # what another client sees the moment each event arrives: the committed rows
        if event['eventType'] == 'org.pacifica.metadata.ingest':
            seen_at_event.append(api.get('files', 'transaction=1234'))
    receiver.hook = look
    try:
        resp = api.request('PUT', 'ingest', body=doc)
        events = receiver.take(6)
    finally:
        receiver.hook = None
    assert resp.status_code == 200, resp.text
    assert resp.text == '{"status": "success"}'
    assert [len(files) for files in seen_at_event] == [2]
    assert [e['eventType'] for e in events] == ['org.pacifica.metadata.orm'] * 5 + [
        'org.pacifica.metadata.ingest']
    ingest_event = events[-1]
    assert ingest_event['data'] == doc
    assert ingest_event['source'] == 'http://metadata.pacifica.org/transactions?_id=1234'
    assert ingest_event['eventID'] == 'metadata.ingest.1234'
    assert [e['data']['obj_type'] for e in events[:5]] == [
        'transactions', 'transsip', 'trans_key_value', 'files', 'file_key_value']
    assert events[3]['data']['obj_primary_keys'] == [{'id': 34}, {'id': 35}]
    receiver.quiet(0.3)
    # ... and the rows are there, committed before the event went out
    assert api.get('transsip', '_id=1234')[0]['project'] == '1234a'
    files = api.get('files', 'transaction=1234')
    assert [f['_id'] for f in files] == [34, 35]
    assert files[0]['ctime'] == '2016-11-29T14:09:05'     # the named zone is ignored
    assert files[0]['mtime'] == '2016-11-29T22:09:05'     # the offset is honoured
    assert files[0]['size'] == 128 and files[0]['subdir'] == 'a/b/'
    assert [k['_id'] for k in api.get('keys', 'key=Tag')] == [900]
    tkv = api.get('trans_key_value', 'transaction=1234')
    values = {v['_id']: v['value'] for v in api.get('values')}
    assert sorted(values[t['value']] for t in tkv) == ['9606', 'foo']
    fkv = api.get('file_key_value', 'file=34')
    assert len(fkv) == 1 and values[fkv[0]['value']] == '5.66%'
    # new keys and values get display_name "" as upstream (not a copy of the text)
    assert {v['display_name'] for v in api.get('values')} == {''}
    assert [k['display_name'] for k in api.get('keys', 'key=count')] == ['']


def test_duplicate_ids_are_400_and_write_nothing(api, receiver):
    before = api.snapshot()
    from support import assert_json_error  # pylint: disable=import-outside-toplevel
    assert_json_error(api.request('PUT', 'ingest', body=document()), 400,
                      'Could not insert records [ID: 1234] due to duplicated ID values')
    assert_json_error(api.request('PUT', 'ingest', body=document(tid=1300)), 400,
                      '[ID: 34,35]')
    assert api.snapshot() == before
    receiver.quiet(0.2)


def test_repeated_pairs_and_multipart(api, receiver):
    doc = document(tid=1400, first_file=1400, files=1)
    doc.insert(0, copy.deepcopy(doc[3]))            # the same pair twice is stored once
    doc[7]['mimetype'] = 'multipart/mixed'        # the upstream typo rejected this
    doc[7]['ctime'] = 1480457345                  # epoch seconds are UTC
    resp = api.request('PUT', 'ingest', body=doc)
    assert resp.status_code == 200, resp.text
    assert len(api.get('trans_key_value', 'transaction=1400')) == 2
    assert api.get('files', '_id=1400')[0]['ctime'] == '2016-11-29T22:09:05'
    assert len(receiver.take(6)) == 6


TIME_SPELLINGS = [
    ('2020-01-02T03:04:05', '2020-01-02T03:04:05'),
    ('2020-01-02 03:04:05', '2020-01-02T03:04:05'),
    ('2020-01-02T03:04:05.999999', '2020-01-02T03:04:05'),   # dropped, not rounded
    ('2020-01-02T03:04', '2020-01-02T03:04:00'),
    ('2020-01-02', '2020-01-02T00:00:00'),
    ('2020-01-02T03:04:05+02:00', '2020-01-02T01:04:05'),
    ('2020-01-02T03:04:05Z', '2020-01-02T03:04:05'),
    ('Jan 2 2020 3:04:05 PM', '2020-01-02T15:04:05'),
]


@pytest.mark.parametrize('number, spelling, stored', [
    (n, spelling, stored) for n, (spelling, stored) in enumerate(TIME_SPELLINGS)],
    ids=[s for s, _ in TIME_SPELLINGS])
def test_file_times_in_every_spelling(api, receiver, number, spelling, stored):
    doc = document(tid=1500 + number, first_file=1500 + 10 * number, files=1)
    doc[6]['ctime'] = spelling
    doc[6]['mtime'] = spelling
    resp = api.request('PUT', 'ingest', body=doc)
    assert resp.status_code == 200, resp.text
    receiver.take(6)
    row = api.get('files', '_id={}'.format(1500 + 10 * number))[0]
    assert (row['ctime'], row['mtime']) == (stored, stored)


def test_only_put(api):
    assert api.request('GET', 'ingest').status_code == 405
    assert api.request('POST', 'ingest', body=[]).status_code == 405

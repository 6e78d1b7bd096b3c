"""ORM notifications against a real HTTP receiver (spec 8 with the D11 fixes)."""
import time

import pytest

from pacifica.common import config as cfg
from pacifica.metadata.config import KEYS
from pacifica.metadata.events import Event, Notifier


@pytest.fixture(scope='module')
def md_events_env():
    """Sends time out after 2 s, still longer than the slow receiver's delay."""
    return {'NOTIFICATIONS_TIMEOUT': '2'}


@pytest.fixture(scope='module')
def api(md_events_api):
    """A server that sends its events to the receiver."""
    return md_events_api


def test_events_after_each_write(api, receiver):
    api.ok('PUT', 'keys', body=[{'_id': 500, 'key': 'a'}, {'_id': 501, 'key': 'b'}])
    insert, = receiver.take(1)
    assert list(insert) == ['cloudEventsVersion', 'eventType', 'source', 'eventID',
                            'eventTime', 'extensions', 'contentType', 'data']
    assert insert['cloudEventsVersion'] == '0.1'
    assert insert['eventType'] == 'org.pacifica.metadata.orm'
    assert insert['source'] == 'http://metadata.pacifica.org/keys'
    assert insert['eventID'].startswith('metadata.orm.keys.')
    assert insert['contentType'] == 'application/json' and insert['extensions'] == {}
    assert len(insert['eventTime']) == 19
    assert insert['data'] == {'obj_type': 'keys', 'method': 'insert',
                              'obj_primary_keys': [{'id': 500}, {'id': 501}]}

    api.ok('POST', 'keys', '_id=500', {'display_name': 'A'})
    assert receiver.take(1)[0]['data'] == {'obj_type': 'keys', 'method': 'update',
                                           'obj_primary_keys': [{'_id': 500}]}
    api.ok('DELETE', 'keys', '_id=501')
    assert receiver.take(1)[0]['data']['method'] == 'update'   # soft delete, as upstream
    api.ok('DELETE', 'keys', '_id=501&deleted=&force=true')
    assert receiver.take(1)[0]['data'] == {'obj_type': 'keys', 'method': 'delete',
                                           'obj_primary_keys': [{'_id': 501}]}


def test_composite_and_uuid_keys(api, receiver):
    api.ok('PUT', 'users', body={'_id': 10})
    api.ok('PUT', 'groups', body={'_id': 0, 'name': 'admin'})
    receiver.take(2)
    api.ok('PUT', 'user_group', body={'user': 10, 'group': 0})
    assert receiver.take(1)[0]['data']['obj_primary_keys'] == [{'user': 10, 'group': 0}]
    api.ok('PUT', 'data_sources', body={'uuid': '5f0a1e7c0f4e4c439c597bd2d3f5c0a1'})
    assert receiver.take(1)[0]['data']['obj_primary_keys'] == [
        {'uuid': '5f0a1e7c-0f4e-4c43-9c59-7bd2d3f5c0a1'}]


def test_no_event_for_refused_rolled_back_or_empty_writes(api, receiver):
    api.ok('PUT', 'keys', body=[])
    # the first element is fine; the second breaks a unique index inside the INSERT, so
    # the whole statement rolls back and nothing may be announced
    resp = api.request('PUT', 'relationships', body=[{'name': 'fresh'}, {'name': 'member_of'}])
    assert resp.status_code == 400
    resp = api.request('PUT', 'files', body={'_id': 1, 'transaction': 424242})
    assert resp.status_code == 400
    resp = api.request('POST', 'keys', '_id=9999', {'key': 'x'})
    assert resp.status_code == 404
    api.ok('DELETE', 'keys', '_id=9999&force=true')   # matched nothing: no empty event
    receiver.quiet()
    assert api.get('relationships', 'name=fresh&deleted=') == []


def test_slow_receiver_does_not_slow_requests(api, receiver):
    receiver.delay = 1.5
    try:
        started = time.monotonic()
        for number in range(3):
            api.ok('PUT', 'keys', body={'_id': 600 + number})
        assert time.monotonic() - started < 1.5
        assert len(receiver.take(3)) == 3
    finally:
        receiver.delay = 0.0


def test_disabled_notifier_sends_nothing(receiver):
    config = cfg.load(KEYS, environ={'NOTIFICATIONS_DISABLED': 'true',
                                     'NOTIFICATIONS_URL': receiver.url})
    notifier = Notifier(config)
    notifier.publish(Event('keys', 'insert', [{'id': 1}]))
    assert notifier.send(Event('keys', 'insert', [{'id': 1}])) is False
    receiver.quiet(0.3)


def test_dead_receiver_is_only_logged(caplog):
    config = cfg.load(KEYS, environ={'NOTIFICATIONS_URL': 'http://127.0.0.1:9/receive',
                                     'NOTIFICATIONS_TIMEOUT': '1'})
    started = time.monotonic()
    assert Notifier(config).send(Event('keys', 'insert', [{'id': 1}])) is False
    assert time.monotonic() - started < 3
    assert 'Unable to send notification' in caplog.text

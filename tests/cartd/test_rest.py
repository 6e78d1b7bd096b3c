"""Cartd's REST API without a worker: routing, validation and the not-ready answers."""
import json

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pacifica.cartd import validate
from support import (POSTGRES_URL, assert_json_error, create_postgres_database,
                     drop_postgres_database, free_port, run_admin, service_env,
                     start_service)

ITEM = {'id': 1, 'path': 'a.txt', 'hashtype': 'md5', 'hashsum': 'd41d8cd98f00b204e9800998ecf8427e'}


@pytest.fixture(scope='module', params=['sqlite', 'postgresql'])
def cartd(request, tmp_path_factory):
    """cartd alone (its queue is never consumed, so carts stay staging)."""
    base = tmp_path_factory.mktemp('cartd')
    if request.param == 'sqlite':
        url = 'sqliteext:///' + str(base / 'cart.sqlite3')
    elif not POSTGRES_URL:
        pytest.skip('PACIFICA_TEST_POSTGRES is not set (no PostgreSQL server to test against)')
    else:
        url = create_postgres_database('pacifica_cartd_rest')
    env = service_env(base, 'cartd', PEEWEE_URL=url, VOLUME_PATH=base / 'volume',
                      PACIFICA_HOME=base / 'home')
    assert run_admin('pacifica.cartd', ['dbsync'], env, cwd=str(base)).returncode == 0
    server = start_service('pacifica.cartd', base, env)
    server.volume = base / 'volume'
    server.db_url = url
    yield server
    server.stop()
    if request.param == 'postgresql':
        drop_postgres_database(url)


def post(cartd, uid, body, content_type='application/json'):
    """POST raw JSON (or anything) to ``/<uid>``."""
    data = body if isinstance(body, (str, bytes)) else json.dumps(body)
    return requests.post('{}/{}'.format(cartd.url, uid), data=data,
                         headers={'Content-Type': content_type})


def test_status_root_and_routing(cartd):
    response = requests.get(cartd.url + '/')
    assert response.json() == {'message': 'Pacifica Cartd Interface Up and Running'}
    assert response.headers['Allow'] == 'DELETE, GET, HEAD, POST'
    assert requests.put(cartd.url + '/x', data=b'').status_code == 405
    assert requests.patch(cartd.url + '/x', data=b'').status_code == 405
    assert_json_error(requests.get(cartd.url + '/a/b'), 404)
    assert_json_error(requests.post(cartd.url + '/', json={'fileids': []}), 404, 'uid')
    assert_json_error(requests.delete(cartd.url + '/'), 404, 'uid')


def test_post_creates_a_staging_cart(cartd):
    response = post(cartd, 'rest-cart', {'fileids': [ITEM], 'extra': 'ignored'})
    assert response.status_code == 201
    assert response.json() == {'message': 'Cart Processing has begun'}
    head = requests.head(cartd.url + '/rest-cart')
    assert head.status_code == 204
    assert head.headers['X-Pacifica-Status'] == 'staging'
    assert head.headers['X-Pacifica-Message'] == ''
    assert head.headers['X-Pacifica-Progress'] == '0/1 files, 0/0 bytes'
    got = requests.get(cartd.url + '/rest-cart')
    assert got.status_code == 202
    assert got.json() == {'message': 'The cart is not ready for download.'}
    # Busy carts are not deleted.
    assert_json_error(requests.delete(cartd.url + '/rest-cart'), 409, 'staging')


def test_unknown_cart(cartd):
    head = requests.head(cartd.url + '/no-such-cart')
    assert head.status_code == 404
    assert head.headers['X-Pacifica-Status'] == 'error'
    assert head.headers['X-Pacifica-Message'] == 'No cart with uid no-such-cart found'
    assert_json_error(requests.get(cartd.url + '/no-such-cart'), 404, 'does not exist')
    assert_json_error(requests.delete(cartd.url + '/no-such-cart'), 404)


@pytest.mark.parametrize('body, words', [
    ([], 'JSON object'),
    ('"text"', 'JSON object'),
    ({}, '"fileids" is required'),
    ({'fileids': {}}, 'must be a list'),
    ({'fileids': [1]}, 'fileids[0] must be an object'),
    ({'fileids': [{'path': 'a', 'hashtype': 'md5', 'hashsum': ITEM['hashsum']}]}, 'missing "id"'),
    ({'fileids': [dict(ITEM, id=1.5)]}, 'id must be an integer or a string'),
    ({'fileids': [dict(ITEM, id=False)]}, 'id must be'),
    ({'fileids': [dict(ITEM, id='a/b')]}, 'not a valid archive id'),
    ({'fileids': [dict(ITEM, path=7)]}, 'path must be a string'),
    ({'fileids': [dict(ITEM, path='../x')]}, '".." component'),
    ({'fileids': [dict(ITEM, path='//abs')]}, 'absolute'),
    ({'fileids': [dict(ITEM, path='')]}, 'must not be empty'),
    ({'fileids': [dict(ITEM, path='a' * 300)]}, 'too long'),
    ({'fileids': [dict(ITEM, hashtype='crc99')]}, "hashtype 'crc99' is not supported"),
    ({'fileids': [dict(ITEM, hashtype=5)]}, 'hashtype must be a string'),
    ({'fileids': [dict(ITEM, hashsum='xyz')]}, '32 hexadecimal digits'),
    ({'fileids': [ITEM, dict(ITEM, id=2)]}, 'appears twice'),
    ({'fileids': [dict(ITEM, path='d'), dict(ITEM, id=2, path='d/e')]}, 'both a file and'),
    ({'fileids': [dict(ITEM, path='d/e.txt'), dict(ITEM, id=2, path='d.txt'),
                  dict(ITEM, id=3, path='d')]}, "path 'd' is both a file and"),
    ({'fileids': [dict(ITEM, path='..\\..\\Users\\evil.bat')]}, 'fileids[0].path'),
    ({'fileids': [ITEM, dict(ITEM, id=2, path='line\nbreak.txt')]}, 'fileids[1].path'),
    ({'fileids': [dict(ITEM, path='a/' * 64 + 'f')]}, 'too deep (at most 64 names)'),
    ({'fileids': [ITEM], 'bundle': 'false'}, '"bundle" must be true or false, got a string'),
    ({'fileids': [ITEM], 'bundle': 0}, '"bundle" must be true or false, got an integer'),
    ({'fileids': [ITEM], 'bundle': None}, '"bundle" must be true or false, got null'),
])
def test_bad_bodies_are_400_and_create_nothing(cartd, body, words):
    response = post(cartd, 'bad-body', body)
    assert_json_error(response, 400, words)
    assert requests.head(cartd.url + '/bad-body').status_code == 404


def test_bad_json_type_and_uid(cartd):
    assert_json_error(post(cartd, 'x', '{not json'), 400, 'Invalid JSON document')
    assert_json_error(post(cartd, 'x', b'\xff\xfe'), 400, 'Invalid JSON document')
    assert_json_error(post(cartd, 'x', '[' * 200000), 400, 'Invalid JSON document')
    assert_json_error(post(cartd, 'x', {'fileids': []}, 'text/plain'), 415)
    assert_json_error(post(cartd, 'x', 'a=b', 'application/x-www-form-urlencoded'), 415)
    for uid in ('..%2Fx', '%2E%2E', 'a%20b', 'x' * 256, '%C3%A9'):
        assert_json_error(post(cartd, uid, {'fileids': []}), 400, 'uid')
        assert requests.head('{}/{}'.format(cartd.url, uid)).status_code == 400
        assert_json_error(requests.get('{}/{}'.format(cartd.url, uid)), 400, 'uid')
        assert_json_error(requests.delete('{}/{}'.format(cartd.url, uid)), 400, 'uid')
    assert not (cartd.volume / 'x').exists()


def test_bad_filename_parameter(cartd):
    post(cartd, 'fname', {'fileids': []})
    for name in ('../../x', 'a/b', '..', '', 'a\x01b', 'x' * 300):
        response = requests.get(cartd.url + '/fname', params={'filename': name})
        assert_json_error(response, 400, 'filename')
    response = requests.get(cartd.url + '/fname?filename=a&filename=b')
    assert_json_error(response, 400, 'filename')


def test_unreachable_broker_is_503_and_the_cart_is_marked_error(tmp_path):
    env = service_env(tmp_path, 'cartd', PEEWEE_URL='sqliteext:///' + str(tmp_path / 'c.db'),
                      VOLUME_PATH=tmp_path / 'volume',
                      BROKER_URL='pyamqp://guest:guest@127.0.0.1:{}//'.format(free_port()))
    assert run_admin('pacifica.cartd', ['dbsync'], env).returncode == 0
    server = start_service('pacifica.cartd', tmp_path, env)
    try:
        response = post(server, 'nobroker', {'fileids': []})
        assert_json_error(response, 503, 'broker')
        head = requests.head(server.url + '/nobroker')
        assert head.headers['X-Pacifica-Status'] == 'error'
        assert 'broker' in head.headers['X-Pacifica-Message']
    finally:
        server.stop()


def test_bundling_reads_as_staging_to_clients(cartd):
    """The downloader polls until the status is not staging and then expects ready."""
    from pacifica.cartd.orm import DB, Cart  # pylint: disable=import-outside-toplevel
    from pacifica.common.database import open_database  # pylint: disable=import-outside-toplevel
    post(cartd, 'bundling-cart', {'fileids': []})
    database = open_database(cartd.db_url)
    DB.initialize(database)
    try:
        Cart.update(status='bundling').where(Cart.cart_uid == 'bundling-cart').execute()
    finally:
        database.close_all()
    head = requests.head(cartd.url + '/bundling-cart')
    assert head.status_code == 204
    assert head.headers['X-Pacifica-Status'] == 'staging'
    assert head.headers['X-Pacifica-Progress'] == '0/0 files, 0/0 bytes, bundling'
    assert requests.get(cartd.url + '/bundling-cart').status_code == 202


# Paths with one hostile character somewhere: a backslash (a separator to Windows
# extractors) or a control character (C0, DEL, C1).
_HOSTILE = st.sampled_from(['\\'] + [chr(code) for code in list(range(32)) + [127] +
                                       list(range(0x80, 0xa0))])
_NAME = st.text(alphabet=st.characters(codec='utf-8', exclude_characters='/\\',
                                       exclude_categories=('Cc', 'Cs')),
                min_size=1, max_size=20).filter(lambda name: name not in ('.', '..'))


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_NAME, min_size=1, max_size=5), hostile=_HOSTILE,
       where=st.integers(0, 200), index=st.integers(0, 3))
def test_hostile_characters_in_a_path_are_400_naming_the_file(cartd, names, hostile, where,
                                                              index):
    path = '/'.join(names)
    path = path[:where % (len(path) + 1)] + hostile + path[where % (len(path) + 1):]
    items = [dict(ITEM, id=number, path='ok{}.txt'.format(number)) for number in range(4)]
    items[index] = dict(ITEM, id=index, path=path)
    response = post(cartd, 'hostile-path', {'fileids': items})
    assert_json_error(response, 400, 'fileids[{}].path'.format(index))
    assert requests.head(cartd.url + '/hostile-path').status_code == 404


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(value=st.one_of(st.none(), st.integers(), st.floats(allow_nan=False), st.text(max_size=8),
                       st.lists(st.booleans(), max_size=2),
                       st.dictionaries(st.text(max_size=3), st.booleans(), max_size=2)))
def test_a_bundle_flag_that_is_not_a_boolean_is_400(cartd, value):
    response = post(cartd, 'bundle-type', {'fileids': [ITEM], 'bundle': value})
    assert_json_error(response, 400, '"bundle" must be true or false')
    assert requests.head(cartd.url + '/bundle-type').status_code == 404


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(names=st.lists(_NAME, min_size=1, max_size=validate.MAX_DEPTH))
def test_a_path_of_safe_names_is_accepted(cartd, names):
    path = '/'.join(names)
    if len(path.encode('utf-8')) > 4000 or any(len(n.encode('utf-8')) > 255 for n in names):
        return
    response = post(cartd, 'safe-path', {'fileids': [dict(ITEM, path=path)], 'bundle': True})
    assert response.status_code == 201, response.text

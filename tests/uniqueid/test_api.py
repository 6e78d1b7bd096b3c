"""UniqueID's HTTP API against a real server, on SQLite and PostgreSQL."""
import pytest
import requests

from support import assert_json_error, service_env, start_service


def getid(server, query, method='GET'):
    """Call /getid with a raw query string (so hostile input reaches the server as written)."""
    return requests.request(method, server.url + '/getid?' + query, timeout=10)


def take(server, mode, count=1):
    """Allocate and return (start, end)."""
    resp = getid(server, 'range={}&mode={}'.format(count, mode))
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {'startIndex', 'endIndex'}
    return body['startIndex'], body['endIndex']


def test_status_root(server):
    resp = requests.get(server.url + '/', timeout=10)
    assert resp.status_code == 200
    assert resp.json() == {'message': 'Pacifica UniqueID Up and Running'}
    assert resp.headers['Content-Type'] == 'application/json'


def test_new_mode_starts_at_zero_and_continues(server):
    # PROJECT CONTRACT: the documented sequence, and the upstream test sequence moved to 0.
    assert take(server, 'file', 10) == (0, 9)
    assert take(server, 'file', 10) == (10, 19)
    assert take(server, 'upload', 1) == (0, 0)
    assert take(server, 'contract', 2) == (0, 1)
    assert take(server, 'contract', 10) == (2, 11)


def test_headers(server):
    resp = getid(server, 'range=1&mode=headers')
    assert resp.headers['Content-Type'] == 'application/json'
    assert resp.headers['Cache-Control'] == 'no-store'
    assert resp.headers['Allow'] == 'GET, HEAD'
    bad = getid(server, 'range=0&mode=headers')
    assert bad.headers['Cache-Control'] == 'no-store'
    assert bad.headers['Allow'] == 'GET, HEAD'


def test_trailing_slash_and_accepted_spellings(server):
    assert requests.get(server.url + '/getid/?range=2&mode=slash', timeout=10).json() == {
        'startIndex': 0, 'endIndex': 1}
    assert take(server, 'slash', '+3') == (2, 4)
    assert take(server, 'slash', '%203%20') == (5, 7)
    # other parameters are ignored
    assert getid(server, 'range=1&mode=slash&cachebuster=123').json()['startIndex'] == 8


@pytest.mark.parametrize('query, name', [
    ('', 'range'),
    ('mode=file', 'range'),
    ('range=&mode=file', 'range'),
    ('range=0&mode=file', 'range'),
    ('range=-3&mode=file', 'range'),
    ('range=abc&mode=file', 'range'),
    ('range=1.5&mode=file', 'range'),
    ('range=1e3&mode=file', 'range'),
    ('range=0x10&mode=file', 'range'),
    ('range=1_000&mode=file', 'range'),
    ('range=%EF%BC%91&mode=file', 'range'),          # a full-width digit one
    ('range=99999999999999999999&mode=file', 'range'),
    ('range=9223372036854775808&mode=file', 'range'),
    ('range=' + '9' * 5000 + '&mode=file', 'range'),
    ('range=1&range=2&mode=file', 'range'),
    ('range=5', 'mode'),
    ('range=5&mode=', 'mode'),
    ('range=5&mode=a&mode=b', 'mode'),
    ('range=5&mode=' + 'm' * 256, 'mode'),
    ('range=5&mode=bad%00mode', 'mode'),
])
def test_bad_input_is_400_and_reserves_nothing(server, query, name):
    before = take(server, 'file', 1)[0]
    body = assert_json_error(getid(server, query), 400, repr(name))
    assert body['status'] == '400 Bad Request'
    assert take(server, 'file', 1)[0] == before + 1
    # nothing was created for a mode that was refused
    assert take(server, 'm' * 255, 1)[0] >= 0


def test_missing_mode_does_not_allocate_from_minus_one(server):
    assert_json_error(getid(server, 'range=5'), 400, "'mode'")
    assert take(server, '-1', 1) == (0, 0)


def test_range_is_capped_by_max_range(server):
    """The default [getid] max_range (1,000,000): one more is a 400 that reserves nothing,
    so one request can no longer use up a mode."""
    assert take(server, 'capped', 1000000) == (0, 999999)
    for count in (1000001, 2 ** 63 - 1):
        assert_json_error(getid(server, 'range={}&mode=capped'.format(count)), 400,
                          "'range'", 'at most 1000000')
    assert take(server, 'capped', 1) == (1000000, 1000000)


def test_range_up_to_the_64bit_limit(module_db_url, tmp_path):
    """With max_range raised to the bigint limit (UNIQUEID_MAX_RANGE), a mode can be filled
    exactly to the last id and then refuses, without overflowing."""
    from support import run_admin  # pylint: disable=import-outside-toplevel
    limit = 2 ** 63 - 1
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=module_db_url,
                      UNIQUEID_MAX_RANGE=limit)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    wide = start_service('pacifica.uniqueid', tmp_path, env)
    try:
        assert take(wide, 'huge', limit) == (0, limit - 1)
        body = assert_json_error(getid(wide, 'range=1&mode=huge'), 400, 'huge')
        assert 'cannot hand out' in body['message']
        assert take(wide, 'huge2', limit - 10) == (0, limit - 11)
        assert take(wide, 'huge2', 10) == (limit - 10, limit - 1)
    finally:
        wide.stop()


def test_bad_max_range_stops_start_up(tmp_path):
    import subprocess  # pylint: disable=import-outside-toplevel
    import sys  # pylint: disable=import-outside-toplevel
    from support import free_port, run_admin  # pylint: disable=import-outside-toplevel
    url = 'sqliteext:///' + str(tmp_path / 'x.sqlite3')
    env = service_env(tmp_path, 'uniqueid', PEEWEE_URL=url)
    assert run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp_path)).returncode == 0
    for value in ('0', 'lots', str(2 ** 63)):
        env = service_env(tmp_path, 'uniqueid', UNIQUEID_MAX_RANGE=value, PEEWEE_URL=url)
        done = subprocess.run([sys.executable, '-m', 'pacifica.uniqueid', '-p',
                               str(free_port())], env=env, capture_output=True, text=True,
                              timeout=60, check=False)
        assert done.returncode == 1, done.stderr
        assert 'getid.max_range' in done.stderr and 'Traceback' not in done.stderr


def test_head_reserves_nothing(server):
    assert take(server, 'head', 1) == (0, 0)
    resp = getid(server, 'range=100&mode=head', method='HEAD')
    assert resp.status_code == 200
    assert resp.content == b''
    assert resp.headers['Cache-Control'] == 'no-store'
    assert getid(server, 'range=0&mode=head', method='HEAD').status_code == 400
    assert take(server, 'head', 1) == (1, 1)


@pytest.mark.parametrize('mode', [
    '../../etc/passwd', "x'; DROP TABLE uniqueindex; --", 'Ünïcødé ✓', 'CaSe', 'case',
    '%2F%2E%2E', ' spaced ', '"quoted"', '\\back\\slash'])
def test_odd_modes_are_just_names(server, mode):
    from urllib.parse import quote  # pylint: disable=import-outside-toplevel
    first = take(server, quote(mode, safe=''), 3)
    assert first == (0, 2)
    assert take(server, quote(mode, safe=''), 1) == (3, 3)


def test_unknown_paths_and_methods(server):
    assert_json_error(requests.get(server.url + '/blah', timeout=10), 404,
                      'Nothing matches the given URI')
    for extra in ('/getid/foo?range=1&mode=x', '/getid/extra?range=1&mode=methods',
                  '/getid/a/b?mode=x'):
        body = assert_json_error(requests.get(server.url + extra, timeout=10), 404,
                                 'Nothing matches the given URI')
        assert 'Multiple values' not in body['message']
    assert_json_error(requests.get(server.url + '/?x=1', timeout=10), 404,
                      'Unexpected query string parameters: x')
    assert_json_error(requests.delete(server.url + '/getid', timeout=10), 405)
    assert_json_error(requests.post(server.url + '/getid', data=b'x', timeout=10), 405)
    assert_json_error(requests.put(server.url + '/getid', data=b'x', timeout=10), 405)
    assert take(server, 'methods', 1) == (0, 0)  # none of the above reserved anything

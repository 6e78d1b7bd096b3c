"""Property-based tests of UniqueID: hostile values in every parameter, path segment and
header of every endpoint, against a real server (SQLite, and PostgreSQL when configured).
Every answer is below 500 and errors are the JSON error document; a refused request (and
any HEAD) leaves every counter as it was; an accepted one moves exactly its mode's counter
by exactly its range."""
import sqlite3

import requests
from hypothesis import given, note
from hypothesis import strategies as st

from support import check_answer, hostile_strategies, pct, property_settings, query_string

HOSTILE = hostile_strategies()
MAX_RANGE = 1000000   # the documented default of [getid] max_range


def counters(db_url):
    """Every mode's next index, read from the database itself."""
    query = 'SELECT id, "index" FROM uniqueindex'
    if db_url.startswith('sqlite'):
        conn = sqlite3.connect(db_url.split(':///', 1)[1])
    else:
        import psycopg2  # pylint: disable=import-outside-toplevel
        conn = psycopg2.connect(db_url)
    try:
        cursor = conn.cursor()
        cursor.execute(query)
        return dict(cursor.fetchall())
    finally:
        conn.close()


def values():
    """A parameter value: hostile text, an integer at or past some edge, or a list (the
    parameter repeated)."""
    single = st.one_of(HOSTILE['text'], HOSTILE['integers'].map(str),
                       st.integers(-3, MAX_RANGE + 3).map(str))
    return st.one_of(single, st.lists(single, min_size=2, max_size=3))


@st.composite
def hostile_request(draw):
    """(method, path, query pairs, headers) for / and /getid."""
    method = draw(st.sampled_from(['GET', 'GET', 'GET', 'HEAD', 'POST', 'PUT', 'DELETE']))
    path = draw(st.sampled_from(['/getid', '/getid/', '/', '/getid/{}', '/{}', '/getid/a/b',
                                 '/api/ready', '/api/metrics', '/api/{}']))
    if '{}' in path:
        path = path.format(pct(draw(HOSTILE['text'])))
    names = st.one_of(st.sampled_from(['range', 'mode', 'range', 'mode']), HOSTILE['text'])
    pairs = draw(st.lists(st.tuples(names, values()), max_size=4))
    headers = dict(draw(st.lists(st.tuples(
        st.sampled_from(['Range', 'If-Modified-Since', 'Cache-Control', 'X-Forwarded-For']),
        HOSTILE['header']), max_size=2)))
    return method, path, pairs, headers


@property_settings(100)
@given(case=hostile_request())
def test_hostile_requests_never_5xx_and_a_refusal_reserves_nothing(server, case):
    method, path, pairs, headers = case
    query = query_string(pairs)
    note('{} {}?{} {}'.format(method, path, query, headers))
    before = counters(server.db_url)
    resp = requests.request(method, server.url + path + ('?' + query if query else ''),
                            headers=headers, timeout=30)
    refused = check_answer(resp)
    after = counters(server.db_url)
    if refused or method == 'HEAD' or not path.startswith('/getid'):
        assert after == before
        return
    body = resp.json()
    count = body['endIndex'] - body['startIndex'] + 1
    assert 1 <= count <= MAX_RANGE
    changed = {mode for mode in after if after[mode] != before.get(mode)}
    assert len(changed) == 1
    mode = changed.pop()
    assert after[mode] - before.get(mode, 0) == count
    assert body['startIndex'] == before.get(mode, 0)


@property_settings(40)
@given(count=st.integers(min_value=MAX_RANGE + 1, max_value=2 ** 90),
       mode=st.sampled_from(['file', 'upload', 'transaction']))
def test_no_request_can_use_up_a_mode(server, count, mode):
    """Beyond max_range a request is refused whole; the mode still answers afterwards."""
    before = counters(server.db_url)
    resp = requests.get(server.url + '/getid', params={'range': count, 'mode': mode},
                        timeout=30)
    assert check_answer(resp) and resp.status_code == 400
    assert counters(server.db_url) == before
    small = requests.get(server.url + '/getid', params={'range': 1, 'mode': mode}, timeout=30)
    assert small.status_code == 200

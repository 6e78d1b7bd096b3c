"""Byte ranges on a pre-built bundle, through real HTTP: one range gives 206, several or
overlapping ones the whole file (never an amplified multipart body), a range past the end
416; whatever the header, the body is never larger than the bundle."""
import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

DATA = bytes(range(256)) * 40   # 10 KiB


class Bundle(bytes):
    """The whole bundle's bytes, shown short when a property fails."""

    def __repr__(self):
        return '<bundle of {} bytes>'.format(len(self))


@pytest.fixture(scope='module')
def bundle_cart(stack):
    """A ready bundle cart; returns (url, the whole bundle's bytes)."""
    stack.put(7301, DATA)
    uid = stack.new_uid()
    assert stack.post(uid, [(7301, 'r.bin', DATA)], bundle=True).status_code == 201
    assert stack.wait(uid).headers['X-Pacifica-Status'] == 'ready'
    url = '{}/{}'.format(stack.url, uid)
    whole = requests.get(url)
    assert whole.status_code == 200
    assert whole.headers['Accept-Ranges'] == 'bytes'
    assert int(whole.headers['Content-Length']) == len(whole.content)
    return url, Bundle(whole.content)


def _get(url, value):
    return requests.get(url, headers={'Range': value})


def test_one_range_is_partial_content(bundle_cart):
    url, whole = bundle_cart
    got = _get(url, 'bytes=100-199')
    assert got.status_code == 206
    assert got.content == whole[100:200]
    assert got.headers['Content-Range'] == 'bytes 100-199/{}'.format(len(whole))
    got = _get(url, 'bytes=-10')
    assert (got.status_code, got.content) == (206, whole[-10:])
    got = _get(url, 'bytes={}-'.format(len(whole) - 5))
    assert (got.status_code, got.content) == (206, whole[-5:])


def test_many_or_overlapping_ranges_get_the_whole_file_once(bundle_cart):
    url, whole = bundle_cart
    for value in ('bytes=' + ','.join(['0-10239'] * 200), 'bytes=0-,0-', 'bytes=0-5,3-9',
                  'bytes=0-1,4-5'):
        got = _get(url, value)
        assert got.status_code == 200, value
        assert got.content == whole
        assert 'multipart' not in got.headers['Content-Type']


def test_a_range_past_the_end_is_416(bundle_cart):
    url, whole = bundle_cart
    got = _get(url, 'bytes={}-'.format(len(whole)))
    assert got.status_code == 416
    assert got.headers['Content-Range'] == 'bytes */{}'.format(len(whole))
    assert got.json()['status'].startswith('416')


def test_conditional_get(bundle_cart):
    url, _whole = bundle_cart
    modified = requests.get(url).headers['Last-Modified']
    assert requests.get(url, headers={'If-Modified-Since': modified}).status_code == 304


_SPEC = st.one_of(
    st.tuples(st.integers(0, 20000), st.one_of(st.none(), st.integers(0, 20000))).map(
        lambda pair: '{}-{}'.format(pair[0], '' if pair[1] is None else pair[1])),
    st.integers(0, 20000).map('-{}'.format),
    st.text(alphabet='0123456789-, =abx', max_size=12))


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(specs=st.lists(_SPEC, min_size=1, max_size=40),
       unit=st.sampled_from(['bytes=', 'bytes = ', 'items=', '']))
def test_any_range_header_answers_without_amplification(bundle_cart, specs, unit):
    url, whole = bundle_cart
    got = _get(url, (unit + ','.join(specs)).strip())
    assert got.status_code in (200, 206, 416), got.text
    assert len(got.content) <= len(whole) or got.status_code == 416
    if got.status_code == 200:
        assert got.content == whole
    elif got.status_code == 206:
        first, last = got.headers['Content-Range'].split(' ')[1].split('/')[0].split('-')
        assert got.content == whole[int(first):int(last) + 1]

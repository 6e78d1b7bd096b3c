"""Hypothesis strategies for hostile metadata input, and the one check every property test
makes of an answer.

Values are what a client can really send: text with lone surrogates, NUL and control
characters goes out as the UTF-8 (``surrogatepass``) bytes a sloppy client would send,
percent-encoded in URLs; numbers beyond every column type; dates at and past the ends of
the calendar with offsets; deep and wide JSON; long lists; repeated parameters.
"""
import json

from hypothesis import given, note
from hypothesis import strategies as st

from pacifica.metadata.objects import OBJECTS
from support import check_answer, property_settings, query_string

# every code point, surrogates and controls included
ANY_CHAR = st.characters(codec=None, exclude_categories=())

EDGE_TEXT = st.sampled_from([
    '', ' ', '\x00', 'a\x00b', '\ud800', 'x\udfff', '\ud83d', '\x1b[2J', '\r\n', '\t',
    '../../etc/passwd', '..%2F..', "' OR 1=1 --", '%', '_', '%%', '\\', '"', '\u202e',
    'null', 'None', 'true', '-1', '0', '1e400', 'NaN', 'inf', '0x10', '1_000',
    'x' * 255, 'x' * 256, 'x' * 5000, 'é' * 300, '+'.join(['a'] * 40), ' , ; + ',
])

EDGE_DATES = st.sampled_from([
    '0001-01-01', '0001-01-01T00:00:00+05:00', '0001-01-01T00:00:00-05:00',
    '9999-12-31', '9999-12-31T23:59:59-05:00', '9999-12-31T23:59:59+14:00',
    '9999-12-31T23:59:59.999999', '1899-12-31T23:59:59', '1970-01-01T00:00:00Z',
    '2016-02-30', '2017-13-01', '0000-01-01', '10000-01-01', '2020-01-01T25:00:00',
    'Mon Jul 12 00:00:00 2017', '1500076800', '20170715', '2017', 'yesterday',
])

DATETIMES = st.datetimes(timezones=st.one_of(st.none(), st.timezones())).map(
    lambda d: d.isoformat())

EDGE_INTS = st.sampled_from([
    0, -1, 1, 2 ** 31 - 1, 2 ** 31, -2 ** 31 - 1, 2 ** 63 - 1, 2 ** 63, -2 ** 63 - 1,
    10 ** 18, 10 ** 19, 10 ** 30, 10 ** 300])

# plausible values (ids and names of the test catalog), and the same with a NUL or a lone
# surrogate planted in them: the values most likely to slip past a check
PLAIN = st.one_of(st.sampled_from(['10', '11', '1234a', '54', '67', 'temp_f', 'bjohn',
                                   'Brown', 'authorized_releaser', 'sha1', 'text/plain']),
                  st.text(max_size=12))
POISONED = st.tuples(PLAIN, st.sampled_from(['\x00', '\ud800', '\udfff', '\udbff']),
                     st.integers(0, 12)).map(lambda t: t[0][:t[2]] + t[1] + t[0][t[2]:])

TEXT = st.one_of(POISONED, PLAIN, EDGE_TEXT, st.text(ANY_CHAR, max_size=40), EDGE_DATES,
                 DATETIMES, EDGE_INTS.map(str), st.integers().map(str))

SCALARS = st.one_of(
    st.none(), st.booleans(), EDGE_INTS, st.integers(min_value=-2 ** 70, max_value=2 ** 70),
    st.floats(allow_nan=True, allow_infinity=True), TEXT)

JSON = st.recursive(
    SCALARS,
    lambda children: st.one_of(st.lists(children, max_size=6),
                               st.dictionaries(TEXT, children, max_size=6)),
    max_leaves=25)

# bodies no strategy reaches by composition: deep nesting and many elements
SPECIAL_BODIES = st.sampled_from(['[' * 100000 + ']' * 100000, '{"a":' * 50000 + '1' +
                                  '}' * 50000, '[' + ','.join(['1'] * 200000) + ']',
                                  '[' + ','.join(['"x"'] * 20000) + ']', '', 'nul', '{',
                                  '"\\ud800"', '["\\u0000"]', '[1e999]', '[-0]'])


def raw_body(value):
    """A JSON value as request bytes, as a client would send it (lone surrogates escaped,
    NaN/Infinity as Python writes them)."""
    return json.dumps(value).encode('utf-8')


def param_names(obj):
    """Every parameter name a generic endpoint understands for ``obj``, and a few more."""
    names = ['_id', '_id_operator', 'created', 'updated', 'deleted', 'deleted_operator',
             'recursion_depth', 'recursion_limit', 'page_number', 'items_per_page', 'force',
             'recursive', 'created_0', 'created_1', 'created_operator']
    for name in obj.fields:
        if name != 'id':
            names += [name, name + '_id', name + '_operator', name + '_0', name + '_1']
    return names


OPERATORS = st.sampled_from(['eq', 'ne', 'lt', 'lte', 'gt', 'gte', 'like', 'ilike', 'regexp',
                             'iregexp', 'in', 'not_in', 'between', 'is', 'EQ', ' in ', 'x'])


@st.composite
def generic_request(draw, samples):
    """(method, object name, query string, body bytes) for a generic object endpoint;
    ``samples`` holds a valid record per object, the starting point of mutated bodies (its
    values are also plausible filter values)."""
    obj = draw(st.sampled_from(OBJECTS))
    method = draw(st.sampled_from(['GET', 'HEAD', 'PUT', 'POST', 'DELETE']))
    names = param_names(obj)
    pairs = []
    for _ in range(draw(st.integers(0, 5))):
        name = draw(st.one_of(st.sampled_from(names), TEXT))
        if name.endswith('_operator'):
            value = draw(st.one_of(OPERATORS, TEXT))
        elif name in samples[obj.name] and draw(st.booleans()):
            value = str(samples[obj.name][name])
        else:
            value = draw(st.one_of(TEXT, st.lists(TEXT, min_size=2, max_size=4)))
        pairs.append((name, value))
    field_names = [n for n in obj.fields if n != 'id'] + ['_id', 'created', 'updated',
                                                          'deleted', 'relationship_name']
    element = st.dictionaries(st.one_of(st.sampled_from(field_names), TEXT), SCALARS,
                              max_size=6)
    body = draw(st.one_of(mutated(samples[obj.name], field_names), element,
                          st.lists(element, max_size=4), JSON))
    return method, obj.name, query_string(pairs), raw_body(body)


def mutated(record, names):
    """A valid record with one to three fields set to hostile values (or removed)."""
    @st.composite
    def build(draw):
        changed = dict(record)
        for _ in range(draw(st.integers(1, 3))):
            key = draw(st.sampled_from(sorted(set(names) | set(changed))))
            if draw(st.integers(0, 5)) == 0:
                changed.pop(key, None)
            else:
                changed[key] = draw(st.one_of(SCALARS, SCALARS, JSON))
        return changed
    return build()


def run(api, strategy, examples, check):
    """Run ``check(api, case)`` over ``strategy``: ``examples`` cases on SQLite, a third of
    them on PostgreSQL. The minimal failing case is printed by hypothesis."""
    if api.db_url.startswith('postgres'):
        examples = max(10, examples // 3)

    @property_settings(examples)
    @given(strategy)
    def inner(case):
        note('case: {!r}'.format(case if len(repr(case)) < 2000 else repr(case)[:2000]))
        check(api, case)
    inner()


def send(api, method, path, query='', raw=None, content_type='application/json'):
    """One request with raw bytes (a str path is percent-encoded by the caller)."""
    headers = {'Content-Type': content_type}
    url = '{}/{}{}'.format(api.url, path, '?' + query if query else '')
    return api.session.request(method, url, data=raw, headers=headers, timeout=60)


def refused_writes_nothing(api, method, path, query='', raw=None,
                           content_type='application/json'):
    """Send a write; if refused, the database must be exactly as before."""
    before = api.snapshot()
    resp = send(api, method, path, query, raw, content_type)
    if check_answer(resp):
        assert api.snapshot() == before, (method, path, query, resp.text[:300])
    return resp

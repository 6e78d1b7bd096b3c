"""PUT builds the rows of a uniform batch a column at a time (``write._as_batch``): the
columns it builds are the row path's (``write._new_row``) to the value and type, and a batch
the row path refuses never takes the column path, so the error is the row path's.

In-process, no database: the column and row builders, the column coercers and the plain-ISO
time reader against their value-by-value counterparts on generated values.
"""
# what is compared are the write module's own builders, private to it
# pylint: disable=protected-access
import datetime
import uuid

import pytest
from hypothesis import given
from hypothesis import strategies as st

from metadata.hostile import DATETIMES, EDGE_DATES, EDGE_INTS, TEXT
from pacifica.common.database import peewee
from pacifica.metadata.objects import BY_NAME, OBJECTS
from pacifica.metadata.queries import InputError, write
from pacifica.metadata.queries.coerce import (column_coercer, coercer, iso_column,
                                              parse_datetime, target_field)
from support import property_settings

NOW = datetime.datetime(2024, 5, 6, 7, 8, 9)

# plain ISO times, the ones iso_column takes, and their near misses
PLAIN_TIMES = st.tuples(st.datetimes(), st.sampled_from('T ')).map(
    lambda t: t[0].replace(microsecond=0).isoformat(t[1]))
NEAR_TIMES = st.one_of(
    st.tuples(st.datetimes(), st.sampled_from('T x/')).map(
        lambda t: t[0].replace(microsecond=0).isoformat(t[1])),
    st.text(st.sampled_from('0123456789-:T Z+\u0661\uff10\n'), min_size=17, max_size=21),
    st.sampled_from(['2020-02-30T00:00:00', '2020-01-02T24:00:00', '0000-01-01T00:00:00',
                     '2020-01-02T03:04:05', '2020-01-02 03:04:05', '2020-01-02T03:04:5 ',
                     ' 2020-01-02T03:04:5', '2020-01-0203:04:05Z']))
TIMES = st.one_of(PLAIN_TIMES, NEAR_TIMES, EDGE_DATES, DATETIMES,
                  st.integers(-2 ** 40, 2 ** 40), st.none(), st.booleans())

# values for any column: mostly ones that fit some column, then hostile ones
VALUES = st.one_of(st.integers(-5, 10 ** 6), st.text(max_size=8), PLAIN_TIMES,
                   st.none(), st.booleans(), EDGE_INTS, st.floats(), TEXT, TIMES,
                   st.uuids().map(str))

COLUMN_OBJECTS = [obj for obj in OBJECTS if not write._plan(obj).by_row]


def _typed(values):
    return [(type(value), value) for value in values]


def _outcome(func, *args):
    try:
        return func(*args)
    except InputError as exc:
        return ('refused', str(exc))


def _fitting(field):
    """Values that fit ``field`` (so that most generated batches are accepted)."""
    field = target_field(field)
    for kind, values in ((peewee.DateTimeField, PLAIN_TIMES),
                         (peewee.DateField, st.dates().map(str)),
                         (peewee.BooleanField, st.booleans()),
                         (peewee.IntegerField, st.integers(-5, 10 ** 6)),
                         (peewee.FloatField, st.floats(-1e6, 1e6)),
                         (peewee.UUIDField, st.uuids().map(str))):
        if isinstance(field, kind):
            return values
    return st.text(max_size=8)


@st.composite
def batches(draw):
    """An object type and a batch of body items that all give the same keys."""
    obj = draw(st.sampled_from(COLUMN_OBJECTS))
    keys = write._body_keys(obj)
    chosen = [key for key in sorted(keys) if draw(st.integers(0, 9)) < 8]
    count = draw(st.integers(1, 4))
    hostile = draw(st.booleans())   # else every value fits its column

    def value(key):
        fitting = _fitting(write._field(obj, keys[key]))
        return draw(st.one_of(fitting, fitting, fitting, VALUES) if hostile else fitting)
    return obj, [{key: value(key) for key in chosen} for _ in range(count)]


def _row_columns(obj, items):
    """The row path's rows of ``items``, as the columns of the one batch they make."""
    rows = [write._new_row(obj, dict(item), NOW, set()) for item in items]
    groups = write._batches(rows)
    assert len(groups) == 1, 'uniform items made rows with different columns'
    return groups[0].columns


@given(case=batches(), sqlite=st.booleans())
@property_settings(400)
def test_column_path_builds_the_row_paths_rows(case, sqlite):
    obj, items = case
    try:
        rows = _row_columns(obj, items)
    except InputError:
        # refused by the row path: the column path must leave the batch to it
        assert write._as_batch(obj, [dict(i) for i in items], NOW, sqlite) is None
        return
    batch = write._as_batch(obj, [dict(i) for i in items], NOW, sqlite)
    if batch is None:
        return   # the row path builds it (different columns per row, rule R ...)
    assert list(batch.columns) == list(rows)
    plan = write._plan(obj)
    generated = {name for name, how, _ in plan.fills if how == plan.CALL}
    for name, values in batch.columns.items():
        if name in generated and name not in items[0]:
            assert len(values) == len(items)   # uuid4(), utc_now(): one call a row
            continue
        expected = rows[name]
        if name in batch.bound:
            expected = write._as_text(expected)
        assert _typed(values) == _typed(expected), name


def test_a_uniform_files_batch_takes_the_column_path():
    items = [{'_id': 5000 + n, 'name': 'f{}'.format(n), 'subdir': 'a/b', 'size': n,
              'ctime': '2020-01-02T03:04:05', 'mtime': '2020-01-02 03:04:{:02d}'.format(n),
              'hashsum': '{:040x}'.format(n), 'hashtype': 'sha1', 'transaction': 67,
              'mimetype': 'text/plain'} for n in range(3)]
    for sqlite in (True, False):
        batch = write._as_batch(BY_NAME['files'], [dict(i) for i in items], NOW, sqlite)
        assert batch is not None
        assert batch.bound == ({'ctime', 'mtime'} if sqlite else set())
        assert batch.columns['mtime'][2] == (
            '2020-01-02 03:04:02' if sqlite else datetime.datetime(2020, 1, 2, 3, 4, 2))
        assert batch.columns['created'] == [NOW] * 3 and 'id' in batch.columns


def test_the_column_path_lower_cases_what_users_compare_lower_cased():
    items = [{'network_id': 'BJohn', 'email_address': 'B.John@Example.ORG', 'first_name': 'B'}]
    batch = write._as_batch(BY_NAME['users'], items, NOW, True)
    assert batch.columns['network_id'] == ['bjohn']
    assert batch.columns['email_address'] == ['b.john@example.org']
    assert batch.columns['first_name'] == ['B']


@pytest.mark.parametrize('bad', [{'size': True}, {'name': 'x' * 256}, {'name': 'a\x00'},
                                 {'name': '\ud800'}, {'ctime': '2020-02-30T00:00:00Z'},
                                 {'_id': None, 'name': 'auto'}, {'transaction': None},
                                 {'created': None}])
def test_one_bad_item_sends_the_batch_down_the_row_path(bad):
    items = [{'_id': 5000 + n, 'name': 'f', 'transaction': 67, 'size': 1,
              'ctime': '2020-01-02T03:04:05', 'created': '2020-01-02T03:04:05'}
             for n in range(3)]
    items[1].update(bad)
    assert write._as_batch(BY_NAME['files'], items, NOW, True) is None


@given(values=st.lists(TIMES, min_size=1, max_size=4))
@property_settings(500)
def test_iso_column_reads_what_parse_datetime_reads(values):
    found = iso_column(values)
    if found is None:
        return
    stamps, texts = found
    assert stamps == [parse_datetime('t', value, 'body') for value in values]
    assert texts == [str(stamp) for stamp in stamps]


@given(values=st.lists(PLAIN_TIMES, min_size=1, max_size=4))
@property_settings(100)
def test_iso_column_takes_every_plain_time(values):
    assert iso_column(values) is not None


# one field of each kind (its type, its target's type, nullable or not)
FIELDS = sorted({(type(field).__name__, type(target_field(field)).__name__, field.null): field
                 for obj in OBJECTS
                 for field in list(obj.fields.values()) + [obj.model.created]}.items())


@given(field=st.sampled_from([f for _, f in FIELDS]),
       values=st.lists(VALUES, min_size=0, max_size=4))
@property_settings(600)
def test_column_coercer_is_the_value_coercer_value_by_value(field, values):
    one = coercer(field)
    expected = _outcome(lambda: [one('k', value, 'body') for value in values])
    found = _outcome(column_coercer(field), 'k', list(values))
    if isinstance(expected, list):
        assert _typed(found) == _typed(expected)
    else:
        assert found == expected


def test_known_keys_are_json():
    columns = {'uuid': [uuid.UUID(int=5)], 'name': ['x']}
    assert write._known_keys(BY_NAME['relationships'], columns) == [
        {'uuid': str(uuid.UUID(int=5))}]

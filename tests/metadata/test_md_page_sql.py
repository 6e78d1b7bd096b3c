"""The page SELECT of a GET is written from a per-object template (read._page_sql): the same
SQL and parameters as peewee writes for the query, for every object and kind of filter."""
import pytest

from pacifica.common.database import family_of, open_database
from pacifica.metadata.objects import OBJECTS
from pacifica.metadata.orm import DB
from pacifica.metadata.queries import InputError, filters, read

CANDIDATES = ('5', 'x', '2020-01-02T03:04:05', 'true', '45d17677-833f-4835-9714-1839cd315e5d')


@pytest.fixture
def bound(db_url):
    """The metadata models bound to a database (no connection needed to write SQL)."""
    DB.initialize(open_database(db_url))
    yield DB.obj


def _parsed(obj, params):
    try:
        return filters.parse(obj, params, 'get', family_of(DB.obj))
    except InputError:
        return None


def _queries(obj):
    """Parsed queries of ``obj``: no filter, every visibility, each field with a value it
    takes (and with in, like and between where they apply), paging."""
    yield _parsed(obj, {})
    yield _parsed(obj, {'deleted': ''})
    yield _parsed(obj, {'deleted': '2020-01-01', 'deleted_operator': 'lt'})
    yield _parsed(obj, {'created_operator': 'between', 'created': 'x',
                        'created_0': '2020-01-01', 'created_1': '2021-01-01'})
    yield _parsed(obj, {'items_per_page': '7', 'page_number': '3', 'updated': '2020-01-01',
                        'updated_operator': 'gte'})
    yield _parsed(obj, {'items_per_page': '0', 'page_number': '1'})
    names = (['_id'] if obj.has_id else []) + list(obj.filter_fields)
    for name in names:
        for value in CANDIDATES:
            one = _parsed(obj, {name: value})
            if one is None:
                continue
            yield one
            yield _parsed(obj, {name: [value, value], name + '_operator': 'in'})
            yield _parsed(obj, {name: value, name + '_operator': 'like', '_id': '1'})
            break


@pytest.mark.parametrize('obj', OBJECTS, ids=lambda obj: obj.name)
def test_the_same_sql_as_peewee(bound, obj):
    count = 0
    for query in _queries(obj):
        if query is None:
            continue
        limit, offset = query.page or (read.BATCH_ROWS + 1, 0)
        sel = read.select(obj, query).limit(limit).offset(offset or None)
        assert read._page_sql(obj, query, limit, offset) == (  # pylint: disable=protected-access
            bound.get_sql_context().sql(sel).query())
        count += 1
    assert count >= 5

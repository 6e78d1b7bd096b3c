"""Destructive requests touch only the rows the client selected, for every one of the 45
objects (generated from the object table), on SQLite and PostgreSQL.

A POST or DELETE whose selection cannot be trusted is refused with a 400 naming the
parameter, and the whole database is unchanged afterwards: an empty value (it would match
every row still holding a column default), an operator or bound without its filter, an
alias given with a different value than its field, paging (a write acts on every selected
row). ``_id_operator`` works like every other ``<field>_operator`` on GET, POST and DELETE.
"""
from urllib.parse import urlencode

import pytest

from pacifica.metadata.objects import BY_NAME, OBJECTS
from pacifica.metadata.queries.coerce import is_temporal
from pacifica.common.database import peewee
from support import assert_json_error

from metadata.test_md_objects import SPEC, WORLD


@pytest.fixture(scope='module')
def api(md_api):
    """The parents of every sample, then one sample row of every object."""
    for name, body in WORLD:
        md_api.ok('PUT', name, body=body)
    for obj in OBJECTS:
        md_api.ok('PUT', obj.name, body=SPEC[obj.name][0])
    return md_api


def _filter_field(obj):
    """A filter field of ``obj`` whose sample row holds a value (text preferred)."""
    sample = SPEC[obj.name][0]
    fields = [(n, f) for n, f in obj.filter_fields.items() if n in sample
              and not is_temporal(f)]
    text = [(n, f) for n, f in fields if isinstance(f, peewee.CharField)]
    return (text or fields)[0]


def _foreign_key(obj):
    sample = SPEC[obj.name][0]
    return next((n for n, f in obj.filter_fields.items()
                 if isinstance(f, peewee.ForeignKeyField) and n in sample), None)


def _refused(obj):
    """(method, query, words) of writes that must be refused, each naming the problem."""
    name, _ = _filter_field(obj)
    value = str(SPEC[obj.name][0][name])
    cases = [
        ('DELETE', {name: ''}, [name, 'empty']),
        ('DELETE', {name: '', 'force': 'true', 'recursive': 'true'}, [name, 'empty']),
        ('POST', {name: ''}, [name, 'empty']),
        ('DELETE', {name: value, 'items_per_page': '1', 'page_number': '1'},
         ['items_per_page']),
        ('POST', {name: value, 'created_operator': 'gt'}, ['created_operator', 'created']),
        ('DELETE', {name: value, 'updated_0': '2001-01-01'}, ['updated_0']),
        ('DELETE', {name: [value, '']}, [name, 'empty']),
    ]
    if obj.has_id:
        cases += [
            ('DELETE', {'_id_operator': 'ne'}, ['_id_operator', '_id']),
            ('POST', {'_id_operator': 'gt', name: value}, ['_id_operator']),
            ('DELETE', {'_id': ''}, ['_id', 'empty']),
        ]
    fk = _foreign_key(obj)
    if fk is not None:
        sample = str(SPEC[obj.name][0][fk])
        cases.append(('DELETE', {fk: sample, fk + '_id': sample + '9'}, [fk, fk + '_id']))
        cases.append(('POST', {fk + '_id': sample, fk + '_id_operator': 'ne'},
                      [fk + '_id_operator', fk + '_operator']))
    return cases


@pytest.mark.parametrize('name', [obj.name for obj in OBJECTS])
def test_refused_writes_change_nothing(api, name):
    obj = BY_NAME[name]
    before = api.snapshot()
    for method, params, words in _refused(obj):
        body = {'updated': '2030-01-01T00:00:00'} if method == 'POST' else None
        resp = api.request(method, name, urlencode(params, doseq=True), body=body)
        assert_json_error(resp, 400, *words)
    assert api.snapshot() == before, name


def test_id_operator_on_every_method(api):
    api.ok('PUT', 'keywords', body=[{'_id': n, 'keyword': 'op{}'.format(n)}
                                   for n in (3000, 3001, 3002, 3003)])
    ids = '_id=3000&_id=3001&_id=3002&_id=3003&_id_operator=in'

    def live():
        return [k['_id'] for k in api.get('keywords', ids + '&recursion_depth=0')]
    assert live() == [3000, 3001, 3002, 3003]
    # "every keyword except 3000" among these four: 3000 stays, the others go
    api.ok('DELETE', 'keywords', '_id=3000&_id_operator=ne&keyword_operator=like&keyword=op%')
    assert live() == [3000]
    # bring 3001 back (deleted= widens the selection to soft-deleted rows), then update the
    # live ones above 3000: only 3001 (equality, upstream's reading, would change 3000)
    api.ok('POST', 'keywords', '_id=3001&deleted=', body={'deleted': None})
    api.ok('POST', 'keywords', '_id=3000&_id_operator=gt&keyword_operator=like&keyword=op%',
           body={'keyword': 'changed'})
    rows = {k['_id']: k['keyword'] for k in api.get('keywords', ids + '&deleted=')}
    assert rows == {3000: 'op3000', 3001: 'changed', 3002: 'op3002', 3003: 'op3003'}
    # deleted_operator is honoured, not ignored: nothing was deleted after 2100
    assert api.get('keywords', ids + '&deleted=2100-01-01&deleted_operator=gt') == []


def test_alias_given_twice_with_the_same_value_is_one_filter(api):
    resp = api.request('GET', 'contributors', 'user=10&user_id=10&recursion_depth=0')
    assert resp.status_code == 200 and [c['user'] for c in resp.json()] == [10]
    assert_json_error(api.request('GET', 'contributors', 'user=10&user_id=11'), 400,
                      "'user' and 'user_id'")


def test_empty_value_still_filters_on_get(api):
    # reads keep upstream's meaning: "" matches the rows holding ""
    rows = api.get('users', 'middle_initial=&recursion_depth=0')
    assert rows and all(row['middle_initial'] == '' for row in rows)

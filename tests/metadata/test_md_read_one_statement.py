"""A GET page and its reverse lists in one statement on PostgreSQL (read.first_rows with
read.ONE_STATEMENT): the same JSON, byte for byte, as the page and then its lists read by
the statements of read._reverse_lists (item order included), over generated links, soft
deletes and rows rewritten in place; and the statement counts that are the point of it."""
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pacifica.common.database import family_of
from pacifica.metadata.objects import BY_NAME
from pacifica.metadata.orm import DB
from pacifica.metadata.queries import filters, read, write

from metadata.test_md_reverse import StatementCounter, db  # noqa: F401  (the fixture)
from support import property_settings

PARENTS = 3   # groups, projects, institutions, keys, values and datasets 0..2 to link to


@pytest.fixture
def parents(db):  # pylint: disable=redefined-outer-name,unused-argument
    """The synced database of test_md_reverse, with the parents links point at."""
    numbers = range(PARENTS)
    put('groups', [{'_id': n, 'name': 'g{}'.format(n)} for n in numbers])
    put('projects', [{'_id': 'p{}'.format(n), 'title': 'P'} for n in numbers])
    put('institutions', [{'_id': n, 'name': 'i{}'.format(n)} for n in numbers])
    put('keys', [{'_id': n, 'key': 'k{}'.format(n)} for n in numbers])
    put('values', [{'_id': n, 'value': 'v{}'.format(n)} for n in numbers])
    put('datasets', [{'_id': n, 'name': 'd{}'.format(n)} for n in numbers])
    put('transactions', {'_id': 1})


def put(name, body):
    """Create rows as PUT does."""
    write.create(BY_NAME[name], body)


def answer(name, params, one_statement=True):
    """The JSON text a GET answers (a page of at most one batch), read with the page and
    its lists in one statement where the database does that, or as before it did."""
    obj = BY_NAME[name]
    query = filters.parse(obj, params, 'get', family_of(DB.obj))
    saved = read.ONE_STATEMENT
    read.ONE_STATEMENT = saved if one_statement else ()
    try:
        rows = read.first_rows(obj, query)
        return json.dumps(read.render(obj, query, rows))
    finally:
        read.ONE_STATEMENT = saved


# a link: (kind, parent number, other side 0..PARENTS-1); kinds cover every item type of a
# reverse list: ints (groups, institutions, datasets), uuids, strings, key/value pairs
KINDS = {
    'user_group': lambda user, n, _: {'user': user, 'group': n},
    'project_user': lambda user, n, _: {'user': user, 'project': 'p{}'.format(n),
                                        'relationship_name': 'member_of'},
    'contributors': lambda user, n, _: {'user': user, 'institution': n},
    'doi_entries': lambda user, n, serial: {'doi': '10.1/é"{}'.format(serial),
                                            'creator': user, 'site_url': 'x'},
    'file_key_value': lambda file, n, serial: {'file': file, 'key': n, 'value': serial % 3},
    'dataset_file': lambda file, n, _: {'file': file, 'dataset': n},
}
USER_KINDS = ('user_group', 'project_user', 'contributors', 'doi_entries')
TABLES = {name: BY_NAME[name].model._meta.table_name  # pylint: disable=protected-access
          for name in KINDS}
LINKS = st.lists(st.tuples(st.sampled_from(sorted(KINDS)), st.integers(0, 3),
                           st.integers(0, PARENTS - 1), st.integers(0, 8)), max_size=30)
WORLDS = st.fixed_dictionaries({
    'parents': st.integers(1, 4), 'links': LINKS,
    'deleted': st.lists(st.integers(0, 29), max_size=6),     # links soft-deleted after
    'rewritten': st.lists(st.integers(0, 29), max_size=6),   # links updated (moved on disk)
    'parent_deleted': st.booleans(),
})
EXAMPLE = itertools.count(1)


def _build(world):
    """Users and files of this example (ids of their own) and their links; returns the
    tag that names them, their ids and the links made ({kind: [(parent, other)]})."""
    number = next(EXAMPLE)
    tag, first = 'w{}'.format(number), number * 100
    ids = [first + n for n in range(world['parents'])]
    put('users', [{'_id': i, 'first_name': tag} for i in ids])
    put('files', [{'_id': i, 'name': tag, 'transaction': 1} for i in ids])
    made, seen = [], set()
    for serial, (kind, parent, other, extra) in enumerate(world['links']):
        parent = ids[parent % len(ids)]
        body = KINDS[kind](parent, other, first + serial + extra)
        unique = (kind,) + tuple(sorted((k, str(v)) for k, v in body.items()))
        if unique in seen or (kind == 'doi_entries' and (kind, body['doi']) in seen):
            continue
        seen.update({unique, (kind, body.get('doi'))})
        put(kind, body)
        made.append((kind, body))
    for position in world['rewritten'] + world['deleted']:
        if position >= len(made):
            continue
        kind, body = made[position]
        column = 'deleted' if position in world['deleted'] else 'updated'
        where = ' AND '.join('"{}" = {}'.format(*_column(kind, k, v)) for k, v in body.items()
                             if k not in ('relationship_name', 'site_url'))
        DB.obj.execute_sql('UPDATE "{}" SET "{}" = "created" WHERE {}'.format(
            TABLES[kind], column, where))
    if world['parent_deleted']:
        DB.obj.execute_sql('UPDATE "users" SET "deleted" = "created" WHERE "id" = {}'.format(
            ids[-1]))
    return tag, ids


def _column(kind, name, value):
    field = BY_NAME[kind].model._meta.fields[name]  # pylint: disable=protected-access
    literal = "'{}'".format(value.replace("'", "''")) if isinstance(value, str) else value
    return field.column_name, literal


def _params(tag, ids):
    """The GETs compared: one row by id, the example's rows (all, paged, limited, deleted
    ones shown), and without recursion."""
    for name in ('users', 'files'):
        key = 'first_name' if name == 'users' else 'name'
        for one in ids:
            yield name, {'_id': str(one)}
        yield name, {key: tag}
        yield name, {key: tag, 'deleted': ''}
        yield name, {key: tag, 'items_per_page': '2', 'page_number': '2'}
        yield name, {key: tag, 'recursion_limit': '1'}
        yield name, {key: tag, 'recursion_depth': '0'}


@property_settings(40)
@given(world=WORLDS)
def test_one_statement_answers_the_same_bytes(parents, world):  # pylint: disable=unused-argument
    tag, ids = _build(world)
    for name, params in _params(tag, ids):
        assert answer(name, params) == answer(name, params, one_statement=False), (name, params)


def test_many_items_keep_their_order(parents):  # pylint: disable=unused-argument
    """Lists of dozens of items, rewritten out of insertion order: the order of the old
    statements (whatever the plan gives) is the order of the one statement."""
    put('users', [{'_id': 7, 'first_name': 'many'}, {'_id': 8, 'first_name': 'many'}])
    put('files', {'_id': 7, 'name': 'many', 'transaction': 1})
    put('keys', [{'_id': 10 + n, 'key': 'k'} for n in range(40)])
    put('user_group', [{'user': 7 + n % 2, 'group': n % PARENTS} for n in range(6)])
    put('file_key_value', [{'file': 7, 'key': 10 + n, 'value': n % PARENTS}
                           for n in range(40)])
    put('doi_entries', [{'doi': 'd{:02}'.format(n), 'creator': 7, 'site_url': 'x'}
                        for n in range(30)])
    DB.obj.execute_sql('UPDATE "filekeyvalue" SET "updated" = "created" WHERE "key_id" IN '
                       '(10, 13, 17, 21, 22, 30, 41)')
    DB.obj.execute_sql('UPDATE "doientries" SET "updated" = "created" WHERE "doi" IN '
                       "('d05', 'd15', 'd25', 'd00')")
    DB.obj.execute_sql('UPDATE "filekeyvalue" SET "deleted" = "created" WHERE "key_id" = 20')
    for name, params in (('files', {'_id': '7'}), ('users', {'first_name': 'many'}),
                         ('users', {'_id': '7'})):
        one = answer(name, params)
        assert one == answer(name, params, one_statement=False)
    row = json.loads(answer('files', {'_id': '7'}))[0]
    assert len(row['metadata']) == 39
    assert len(json.loads(answer('users', {'_id': '7'}))[0]['dois_created']) == 30


def test_statements_per_request(parents):  # pylint: disable=unused-argument
    """One statement for a page and all its reverse lists on PostgreSQL (SQLite keeps a
    statement per list, or their union); a page larger than a batch gets no lists from it
    (they are read batch by batch as the answer streams)."""
    put('users', [{'_id': 20 + n, 'first_name': 's'} for n in range(3)])
    put('user_group', [{'user': 20, 'group': 1}])
    postgres = family_of(DB.obj) == 'postgresql'
    for params, rows in (({'_id': '20'}, 1), ({'first_name': 's'}, 3)):
        with StatementCounter() as counted:
            text = answer('users', params)
        assert len(json.loads(text)) == rows
        assert counted.count == (1 if postgres else 2)
    with StatementCounter() as counted:
        text = answer('files', {'_id': '1'})
    assert text == '[]' and counted.count == 1
    with StatementCounter() as counted:
        page = read.first_rows(BY_NAME['users'], filters.parse(
            BY_NAME['users'], {'first_name': 's'}, 'get', family_of(DB.obj)), size=2)
    assert len(page) == 3 and page.reverse_lists is None and counted.count == 1

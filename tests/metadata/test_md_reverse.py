"""Reverse-relation lists (spec 2.7 with the D13 choices), without HTTP: their content, and
that a GET with recursion_depth=1 costs the same number of SQL statements for 3 rows as for
60 (one per reverse relation plus the main SELECT)."""
import logging

import pytest

from pacifica.common.database import family_of, open_database
from pacifica.metadata.objects import BY_NAME
from pacifica.metadata.orm import DB
from pacifica.metadata.orm.schema import MetadataSchema
from pacifica.metadata.queries import filters, read, write


@pytest.fixture
def db(db_url):
    """A synced database bound to the metadata models, in this process."""
    database = open_database(db_url, max_connections=4)
    DB.initialize(database)
    database.connect()
    MetadataSchema(database).dbsync()
    yield database
    database.close()
    database.close_all()


def put(name, body):
    """Create rows as PUT does."""
    write.create(BY_NAME[name], body)


def get(name, **params):
    """Read rows as GET does."""
    obj = BY_NAME[name]
    return read.read(obj, filters.parse(obj, {k: str(v) for k, v in params.items()}, 'get',
                                        family_of(DB.obj)))


class StatementCounter(logging.Handler):
    """Counts the statements peewee sends (it logs each one at DEBUG)."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.count = 0

    def emit(self, record):
        self.count += 1

    def __enter__(self):
        logger = logging.getLogger('peewee')
        self._level = logger.level
        logger.setLevel(logging.DEBUG)
        logger.addHandler(self)
        return self

    def __exit__(self, *exc):
        logger = logging.getLogger('peewee')
        logger.removeHandler(self)
        logger.setLevel(self._level)


def _users_with_links(first, count):
    put('users', [{'_id': first + i, 'first_name': 'u{}'.format(i)} for i in range(count)])
    put('user_group', [{'user': first + i, 'group': 0} for i in range(count)])
    put('project_user', [{'user': first + i, 'project': 'p1', 'relationship_name': 'member_of'}
                         for i in range(count)])


def test_statement_count_does_not_grow_with_rows(db):  # pylint: disable=unused-argument
    put('groups', {'_id': 0, 'name': 'admin'})
    put('projects', {'_id': 'p1', 'title': 'P'})
    _users_with_links(1000, 3)
    with StatementCounter() as small:
        rows = get('users', recursion_depth=1)
    assert len(rows) == 3
    _users_with_links(2000, 57)
    with StatementCounter() as large:
        rows = get('users', recursion_depth=1)
    assert len(rows) == 60
    assert all(row['groups'] == [0] and len(row['projects']) == 1 for row in rows)
    # the page, then all of a user's reverse lists in one UNION ALL (read.UNION_FROM)
    assert len(BY_NAME['users'].reverse) >= 3
    assert small.count == large.count == 2
    with StatementCounter() as flat:
        get('users', recursion_depth=0)
    assert flat.count == 1
    with StatementCounter() as paged:
        assert len(get('users', page_number=2, items_per_page=7)) == 7
    assert paged.count == small.count


def test_reverse_list_contents(db):  # pylint: disable=unused-argument
    put('users', [{'_id': 10, 'first_name': 'A'}, {'_id': 11}])
    put('institutions', {'_id': 20, 'name': 'I'})
    put('groups', [{'_id': 0, 'name': 'admin'}, {'_id': 1, 'name': 'other'}])
    put('projects', {'_id': 'p1', 'title': 'P'})
    put('instruments', {'_id': 54, 'name': 'NMR'})
    put('transactions', [{'_id': 67}, {'_id': 68}])
    put('contributors', {'_id': 40, 'user': 10, 'institution': 20})
    put('user_group', [{'user': 10, 'group': 0}, {'user': 10, 'group': 1}])
    put('transsip', [{'_id': 67, 'submitter': 10, 'instrument': 54, 'project': 'p1'},
                     {'_id': 68, 'submitter': 10, 'instrument': 54, 'project': 'p1'}])
    put('project_user', {'uuid': '45d17677-833f-4835-9714-1839cd315e5d', 'user': 10,
                         'project': 'p1', 'relationship_name': 'member_of'})
    put('data_sources', {'uuid': '5f0a1e7c-0f4e-4c43-9c59-7bd2d3f5c0a1', 'name': 'ds'})
    put('instrument_data_source', {'instrument': 54,
                                   'data_source': '5f0a1e7c-0f4e-4c43-9c59-7bd2d3f5c0a1',
                                   'relationship_name': 'upload_required'})
    user = get('users', _id=10)[0]
    assert user['contributions'] == [20]          # institution ids, as upstream
    assert sorted(user['groups']) == [0, 1]
    assert sorted(user['transsip']) == [67, 68]   # D13: upstream always []
    assert user['projects'] == ['45d17677-833f-4835-9714-1839cd315e5d']   # dashed (D13)
    assert user['transsap'] == [] and user['dois_created'] == []
    instrument = get('instruments', _id=54)[0]
    assert instrument['data_sources'] == ['5f0a1e7c-0f4e-4c43-9c59-7bd2d3f5c0a1']
    assert get('data_sources')[0]['instruments'] == [54]
    assert get('institutions', _id=20)[0]['contributors'] == [10]   # user ids, as upstream

    # soft-deleted children are left out (D13), and the limit turns long lists into null
    obj = BY_NAME['user_group']
    write.delete(obj, filters.parse(obj, {'user': '10', 'group': '1'}, 'delete'))
    assert get('users', _id=10)[0]['groups'] == [0]
    limited = get('users', _id=10, recursion_limit=1)[0]
    assert limited['groups'] == [0] and limited['transsip'] is None
    assert get('users', _id=10, recursion_limit=0)[0]['transsap'] == []
    assert 'groups' not in get('users', _id=10, recursion_depth=0)[0]


def test_key_value_pairs(db):  # pylint: disable=unused-argument
    put('transactions', {'_id': 67})
    put('keys', {'_id': 104, 'key': 'k'})
    put('values', {'_id': 103, 'value': 'v'})
    put('trans_key_value', {'transaction': 67, 'key': 104, 'value': 103})
    assert get('transactions', _id=67)[0]['metadata'] == [{'key_id': 104, 'value_id': 103}]
    assert get('keys', _id=104)[0]['trans_links'] == [{'key_id': 104, 'value_id': 103}]
    tkv = get('trans_key_value')[0]
    assert tkv['_id'] == 'e2db7fa9314d98cce961603174655ef0'   # spec 2.6 example


@pytest.mark.parametrize('returning', [True, False])
def test_bulk_insert_chunks_and_keys(db, monkeypatch, returning):  # pylint: disable=unused-argument
    """Many rows split into several multi-row INSERTs (bind-parameter limit), with and
    without RETURNING, report every key in order and store every row."""
    monkeypatch.setattr(write, 'SQL_VARIABLES', 40)
    monkeypatch.setattr(DB.obj, 'returning_clause', returning)
    event = write.create(BY_NAME['keys'], [{'key': 'k{}'.format(n)} for n in range(25)]
                         + [{'_id': 500 + n, 'key': 'e{}'.format(n)} for n in range(3)])
    ids = sorted(k['id'] for k in event.keys)
    stored = get('keys', recursion_depth=0)
    assert sorted(k['_id'] for k in stored) == ids and len(ids) == 28
    assert {k['_id'] for k in stored if k['key'].startswith('e')} == {500, 501, 502}
    event = write.create(BY_NAME['data_sources'], [{'name': 'd{}'.format(n)} for n in range(9)])
    assert len({k['uuid'] for k in event.keys}) == 9
    assert len(get('data_sources')) == 9


def test_two_reverse_relations(db, monkeypatch):  # pylint: disable=unused-argument
    """A file's two reverse lists: one UNION ALL on PostgreSQL (read.UNION_FROM), a statement
    each on SQLite; the same answer as a statement per relation, on both."""
    put('transactions', {'_id': 67})
    put('files', [{'_id': n, 'name': 'f{}'.format(n), 'transaction': 67} for n in (1, 2)])
    put('keys', {'_id': 104, 'key': 'k'})
    put('values', [{'_id': 103, 'value': 'v'}, {'_id': 105, 'value': 'w'}])
    put('file_key_value', [{'file': 1, 'key': 104, 'value': 103},
                           {'file': 1, 'key': 104, 'value': 105}])
    put('datasets', [{'_id': 7, 'name': 'd'}, {'_id': 8, 'name': 'e'}])
    put('dataset_file', [{'file': 1, 'dataset': 7}, {'file': 1, 'dataset': 8}])
    assert len(BY_NAME['files'].reverse) == 2
    with StatementCounter() as counted:
        rows = get('files', _id=1)
    assert counted.count == (2 if family_of(DB.obj) == 'postgresql' else 3)
    assert sorted(rows[0]['files']) == [7, 8]
    assert sorted(pair['value_id'] for pair in rows[0]['metadata']) == [103, 105]
    assert get('files', _id=2)[0]['files'] == [] == get('files', _id=2)[0]['metadata']
    monkeypatch.setattr(read, 'UNION_FROM', {})   # the default (3): a statement per relation
    with StatementCounter() as separate:
        assert get('files', _id=1) == rows
    assert separate.count == 3

"""pacifica.common.schema: the OrmSync pattern on SQLite and PostgreSQL."""
import pytest

from pacifica.common import database
from pacifica.common.database import peewee
from pacifica.common.schema import SchemaError, SchemaManager

PROXY = peewee.DatabaseProxy()


class Thing(peewee.Model):
    """A table of the test schema."""

    name = peewee.CharField()

    class Meta:
        database = PROXY


class FreshSchema(SchemaManager):
    """No (0, 0): a database without a version table is created fresh."""

    service = 'test'
    version_table = 'testsystem'
    versions = ((1, 0), (1, 1), (2, 0))
    models = (Thing,)

    def __init__(self, db):
        super().__init__(db)
        self.ran = []

    def update_1_0_to_1_1(self):
        """Step one."""
        self.ran.append('1.0-1.1')

    def update_1_1_to_2_0(self):
        """Step two."""
        self.ran.append('1.1-2.0')


@pytest.fixture
def db(db_url):
    """A connected database bound to PROXY."""
    handle = database.open_database(db_url)
    PROXY.initialize(handle)
    handle.connect()
    yield handle
    handle.close()
    handle.close_all()


def test_fresh_database_is_created(db):
    schema = FreshSchema(db)
    assert schema.read_version() is None
    assert not schema.is_safe()
    assert schema.dbsync() == 'created schema 2.0'
    assert schema.read_version() == (2, 0)
    assert schema.ran == []
    assert db.table_exists('thing')
    assert schema.is_safe() and schema.is_equal()
    assert schema.dbsync() == 'schema already at 2.0'


def test_steps_run_in_order_and_rewrite_the_version(db):
    schema = FreshSchema(db)
    schema.version.create_table()
    schema.version.insert_many([{'part': 'major', 'value': 1},
                                {'part': 'minor', 'value': 0}]).execute()
    with pytest.raises(SchemaError, match='Database version too old 1.0 update to 2.0'):
        schema.check_safe()
    assert schema.dbsync() == 'updated schema 1.0 to 2.0'
    assert schema.ran == ['1.0-1.1', '1.1-2.0']
    assert schema.read_version() == (2, 0)
    assert sorted((r.part, r.value) for r in schema.version.select()) == [
        ('major', 2), ('minor', 0)]


def test_unknown_and_half_initialised_versions_are_refused(db):
    schema = FreshSchema(db)
    schema.version.create_table()
    with pytest.raises(SchemaError, match='half-initialised'):
        schema.dbsync()
    schema.version.insert_many([{'part': 'major', 'value': 9},
                                {'part': 'minor', 'value': 1}]).execute()
    with pytest.raises(SchemaError, match='unknown test schema version 9.1'):
        schema.dbsync()
    assert schema.read_version() == (9, 1)   # nothing was changed


def test_a_failing_step_rolls_everything_back(db):
    class Broken(FreshSchema):
        def update_1_1_to_2_0(self):
            Thing.create_table()
            raise RuntimeError('step failed')

    schema = Broken(db)
    schema.version.create_table()
    schema.version.insert_many([{'part': 'major', 'value': 1},
                                {'part': 'minor', 'value': 0}]).execute()
    with pytest.raises(RuntimeError):
        schema.dbsync()
    assert schema.read_version() == (1, 0)
    if database.family_of(db) == 'postgresql':  # SQLite DDL in a transaction also rolls back
        assert not db.table_exists('thing')


@pytest.mark.parametrize('found, requires, safe', [
    ((2, 0), None, True), ((2, 5), None, True), ((1, 1), None, False), ((3, 0), None, False),
    ((2, 0), (2, 1), False), ((2, 1), (2, 1), True), ((2, 2), (2, 1), True),
    ((1, 1), (2, 1), False), ((3, 0), (2, 1), False)])
def test_safe_is_the_major_and_no_older_than_required(db, found, requires, safe):
    """A database of the code's major but older than the minor its queries need is refused
    by ``check_safe`` (the server's start) and ``is_safe`` (dbchk, readiness) alike."""
    class Needs(FreshSchema):
        pass
    Needs.requires = requires
    schema = Needs(db)
    schema.version.create_table()
    schema.version.insert_many([{'part': 'major', 'value': found[0]},
                                {'part': 'minor', 'value': found[1]}]).execute()
    assert schema.is_safe() is safe
    if safe:
        schema.check_safe()
    else:
        with pytest.raises(SchemaError, match='Database version too old {}.{} update to 2.0'
                           .format(*found)):
            schema.check_safe()

"""UniqueID's tables, named as upstream so an existing database is adopted unchanged.

``uniqueindex``: ``id`` (the mode, VARCHAR(255) primary key), ``index`` (the next id to hand
out). ``uniqueindexsystem``: the schema version, 1.0.
"""
from pacifica.common.database import peewee
from pacifica.common.schema import SchemaManager

DB = peewee.DatabaseProxy()


class UniqueIndex(peewee.Model):
    """The next index to hand out for one mode."""

    idid = peewee.CharField(primary_key=True, max_length=255, column_name='id')
    index = peewee.BigIntegerField()

    class Meta:
        database = DB
        table_name = 'uniqueindex'


class UniqueIDSchema(SchemaManager):
    """Versions 0.0 (no version table) and 1.0."""

    service = 'uniqueid'
    version_table = 'uniqueindexsystem'
    versions = ((0, 0), (1, 0))
    models = (UniqueIndex,)

    def update_0_0_to_1_0(self):
        """Create ``uniqueindex`` if it is missing; existing counters are kept."""
        UniqueIndex.create_table(safe=True)

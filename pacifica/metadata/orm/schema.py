"""The metadata schema: version 7.0 in ``metadatasystem`` (spec 5).

A fresh database gets every table of the current schema, with the seeded relationships, in
one transaction. A database at 7.0 (made by upstream 0.13.0's ``dbsync`` or by ours) is
adopted as is. Older databases must be migrated with the upstream tool first: the migration
steps are PostgreSQL-only DDL upstream, and are not ported (spec 5.3 allows this). Anything
else - another major, an unknown 7.x, a version table without rows, tables without a version
table - is refused with a one-line reason (D18).
"""
from pacifica.common.schema import SchemaError, SchemaManager

from . import ORM_OBJECTS, seed_relationships
from .vocab import Relationships

UPSTREAM_VERSIONS = ((0, 1), (1, 0), (2, 0), (2, 1), (3, 0), (4, 0), (5, 0), (6, 0), (7, 0))


class MetadataSchema(SchemaManager):
    """Create or adopt schema 7.0."""

    service = 'metadata'
    version_table = 'metadatasystem'
    versions = UPSTREAM_VERSIONS
    models = ORM_OBJECTS

    def create_fresh(self):
        """Create the 45 tables in upstream order, seed relationships, record 7.0."""
        self.write_version()
        for model in self.models:
            model.create_table(safe=True)
            if model is Relationships:
                seed_relationships()

    def existing_tables(self):
        """Metadata tables already present (a half-made or foreign database has some)."""
        present = set(self.database.get_tables())
        return [m._meta.table_name for m in self.models  # pylint: disable=protected-access
                if m._meta.table_name in present]  # pylint: disable=protected-access

    def dbsync(self):
        """Create a fresh schema, or accept one at 7.0; refuse everything else."""
        with self.database.atomic():
            found = self.read_version()
            if found is None:
                tables = self.existing_tables()
                if tables:
                    raise SchemaError(
                        'no {} version table, but {} metadata tables exist ({}, ...): the '
                        'database is half-initialised or foreign; refusing to touch it'.format(
                            self.version_table, len(tables), tables[0]))
                self.create_fresh()
                return 'created schema {}.{}'.format(*self.current)
            if found == self.current:
                return 'schema already at {}.{}'.format(*found)
            if found in self.versions:
                raise SchemaError(
                    'database schema is {}.{}; this code creates and adopts {}.{} only: '
                    'migrate it with upstream pacifica-metadata 0.13.0 dbsync first'.format(
                        found[0], found[1], *self.current))
            raise SchemaError('unknown metadata schema version {}.{} (this code knows {}.{})'
                              .format(found[0], found[1], *self.current))

"""The metadata schema: version 7.0 in ``metadatasystem`` (spec 5).

A fresh database gets every table of the current schema, with the seeded relationships, in
one transaction. A database at 7.0 (made by upstream 0.13.0's ``dbsync`` or by ours) is
adopted as is. Older databases must be migrated with the upstream tool first: the migration
steps are PostgreSQL-only DDL upstream, and are not ported (spec 5.3 allows this). Anything
else - another major, an unknown 7.x, a version table without rows, tables without a version
table - is refused with a one-line reason (D18).

On SQLite the integer ``id`` keys are ``AUTOINCREMENT`` (ids are never reused after a hard
delete, as with PostgreSQL's sequences). A SQLite database made before that keeps its
schema version, tables and columns; ``dbsync`` rebuilds each such table in place once
(same name, columns, rows, indexes and foreign keys), in one transaction.
"""
from pacifica.common.database import family_of
from pacifica.common.schema import SchemaError, SchemaManager

from . import ORM_OBJECTS, seed_relationships
from .base import SerialField
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
            if found in self.versions and found != self.current:
                raise SchemaError(
                    'database schema is {}.{}; this code creates and adopts {}.{} only: '
                    'migrate it with upstream pacifica-metadata 0.13.0 dbsync first'.format(
                        found[0], found[1], *self.current))
            if found != self.current:
                raise SchemaError('unknown metadata schema version {}.{} (this code knows '
                                  '{}.{})'.format(found[0], found[1], *self.current))
        # outside the transaction above: SQLite ignores the foreign_keys pragma inside one
        rebuilt = self.sqlite_autoincrement()
        done = 'schema already at {}.{}'.format(*self.current)
        if rebuilt:
            done += '; AUTOINCREMENT ids for {} ({} tables)'.format(', '.join(rebuilt),
                                                                     len(rebuilt))
        return done

    def _needs_autoincrement(self):
        """SQLite tables of :class:`SerialField` models whose key is a plain rowid."""
        if family_of(self.database) != 'sqlite':
            return []
        found = []
        for model in self.models:
            meta = model._meta  # pylint: disable=protected-access
            if not isinstance(meta.primary_key, SerialField):
                continue
            row = self.database.execute_sql(
                "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?",
                (meta.table_name,)).fetchone()
            if row and 'AUTOINCREMENT' not in (row[0] or '').upper():
                found.append(model)
        return found

    def sqlite_autoincrement(self):
        """Rebuild the tables :meth:`_needs_autoincrement` finds (SQLite's 12-step table
        change: new table, copy, drop, rename, indexes back); the table names rebuilt.

        Foreign-key enforcement is off while the referenced tables are swapped (SQLite
        cannot change it inside a transaction) and checked before the commit."""
        models = self._needs_autoincrement()
        if not models:
            return []
        db = self.database
        db.execute_sql('PRAGMA foreign_keys = OFF')
        try:
            with db.atomic():
                for model in models:
                    self._rebuild(model)
                broken = db.execute_sql('PRAGMA foreign_key_check').fetchall()
                if broken:
                    raise SchemaError('rebuilding for AUTOINCREMENT would break {} foreign '
                                      'key(s), first in {}; nothing was changed'.format(
                                          len(broken), broken[0][0]))
        finally:
            db.execute_sql('PRAGMA foreign_keys = ON')
        return [m._meta.table_name for m in models]  # pylint: disable=protected-access

    def _rebuild(self, model):
        db = self.database
        meta = model._meta  # pylint: disable=protected-access
        table = meta.table_name
        scratch = table + '__autoincrement'
        indexes = [sql for (sql,) in db.execute_sql(
            "SELECT sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? "
            'AND sql IS NOT NULL', (table,)).fetchall()]
        meta.table_name = scratch
        try:
            model._schema.create_table(safe=False)  # pylint: disable=protected-access
        finally:
            meta.table_name = table
        columns = ', '.join('"{}"'.format(f.column_name) for f in meta.sorted_fields)
        db.execute_sql('INSERT INTO "{}" ({cols}) SELECT {cols} FROM "{}"'.format(
            scratch, table, cols=columns))
        db.execute_sql('DROP TABLE "{}"'.format(table))
        db.execute_sql('ALTER TABLE "{}" RENAME TO "{}"'.format(scratch, table))
        for sql in indexes:
            db.execute_sql(sql)

"""The versioned-schema pattern every Pacifica service uses (upstream's ``OrmSync``).

A service describes its schema once with a :class:`SchemaManager` subclass: the version table
name, the ordered list of known versions, the models of a fresh schema, and one method per
migration step named ``update_<a>_<b>_to_<c>_<d>``. The version table has the upstream shape
(``part`` VARCHAR(255) primary key holding ``major``/``minor``, ``value`` INTEGER NOT NULL), so
a database created by the upstream service is adopted as it is.
"""
from .database import peewee


class SchemaError(RuntimeError):
    """The database's schema cannot be used or migrated; the message says why in one line."""


def version_model(table_name, database):
    """A peewee model for a service's version table (``part``/``value``)."""

    class SystemVersion(peewee.Model):
        part = peewee.CharField(primary_key=True, max_length=255)
        value = peewee.IntegerField(default=-1)

        class Meta:
            table_name = None

    SystemVersion._meta.table_name = table_name  # pylint: disable=protected-access
    SystemVersion._meta.database = database  # pylint: disable=protected-access
    return SystemVersion


class SchemaManager:
    """Read, check and migrate one service's schema.

    Subclasses set ``service`` (for messages), ``version_table``, ``versions`` (oldest first,
    the last one is the code's version) and ``models`` (created by :meth:`create_fresh`), and
    define the ``update_X_Y_to_Z_W`` steps between consecutive versions. ``requires`` is
    the oldest version the code's queries run on, when that is later than the major's first
    (cartd reads columns 2.2 added): an older database is not safe to serve.
    """

    service = 'service'
    version_table = 'system'
    versions = ((0, 0), (1, 0))
    models = ()
    requires = None

    def __init__(self, database):
        self.database = database
        self.version = version_model(self.version_table, database)

    @property
    def current(self):
        """The code's schema version."""
        return self.versions[-1]

    # -- reading ---------------------------------------------------------------------------
    def has_version_table(self):
        """True when the version table exists."""
        return self.database.table_exists(self.version_table)

    def read_version(self):
        """The stored ``(major, minor)``, or ``None`` when there is no version table.

        A version table without both rows is a half-initialised database: SchemaError.
        """
        if not self.has_version_table():
            return None
        rows = {row.part: row.value for row in self.version.select()}
        if 'major' not in rows or 'minor' not in rows:
            raise SchemaError(
                'table {} exists but holds no major/minor version rows: the database is '
                'half-initialised; restore it or drop the table and run dbsync'.format(
                    self.version_table))
        return (rows['major'], rows['minor'])

    def version_or_zero(self):
        """The stored version, with a missing version table read as (0, 0)."""
        return self.read_version() or (0, 0)

    def is_safe(self):
        """The service can run on the database: its major version is the code's, and it is
        not older than :attr:`requires`."""
        return self._safe(self.version_or_zero())

    def _safe(self, found):
        return found[0] == self.current[0] and (self.requires is None or
                                                tuple(found) >= tuple(self.requires))

    def is_equal(self):
        """The database's version is exactly the code's."""
        return self.version_or_zero() == self.current

    def check_safe(self):
        """Raise SchemaError with the upstream one-line message unless :meth:`is_safe`."""
        found = self.version_or_zero()
        if not self._safe(found):
            raise SchemaError('Database version too old {}.{} update to {}.{}'.format(
                found[0], found[1], self.current[0], self.current[1]))

    # -- writing ---------------------------------------------------------------------------
    def write_version(self):
        """Rewrite the version table with the code's version (create it if needed)."""
        self.version.create_table(safe=True)
        self.version.delete().execute()
        self.version.insert_many(
            [{'part': 'major', 'value': self.current[0]},
             {'part': 'minor', 'value': self.current[1]}]).execute()

    def create_fresh(self):
        """Create every table of the current schema and record its version."""
        self.database.create_tables(list(self.models), safe=True)
        self.write_version()

    def steps_from(self, found):
        """The step methods that take the database from ``found`` to the current version."""
        if found not in self.versions:
            raise SchemaError('unknown {} schema version {}.{} (this code knows {})'.format(
                self.service, found[0], found[1],
                ', '.join('{}.{}'.format(*v) for v in self.versions)))
        start = self.versions.index(found)
        steps = []
        for old, new in zip(self.versions[start:], self.versions[start + 1:]):
            name = 'update_{}_{}_to_{}_{}'.format(old[0], old[1], new[0], new[1])
            steps.append(getattr(self, name))
        return steps

    def fresh_when_missing(self):
        """Whether a database without a version table gets :meth:`create_fresh`.

        True unless (0, 0) is a known version, in which case the 0.0 steps run instead
        (uniqueid: they create what is missing and keep existing rows).
        """
        return (0, 0) not in self.versions

    def dbsync(self):
        """Bring the database to the current version in one transaction; return what was done."""
        with self.database.atomic():
            found = self.read_version()
            if found is None and self.fresh_when_missing():
                self.create_fresh()
                return 'created schema {}.{}'.format(*self.current)
            found = found or (0, 0)
            if found == self.current:
                return 'schema already at {}.{}'.format(*found)
            for step in self.steps_from(found):
                step()
            self.write_version()
            return 'updated schema {}.{} to {}.{}'.format(found[0], found[1], *self.current)

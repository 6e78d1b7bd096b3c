"""Cartd's tables, named as upstream (``cart``, ``file``, ``carttasks``, ``cartsystem``) so a
database created by upstream cartd 0.7 is adopted as it is, and the other way round.

Datetimes are naive local time, as upstream wrote them. The path and id columns are TEXT
(upstream VARCHAR(255) broke deep paths on PostgreSQL and MySQL). Schema 2.1 adds the
workers' claims (``claimed_by``, ``heartbeat`` on ``cart`` and ``file``, both nullable, so
upstream code that does not know them still reads and writes the tables). Schema 2.2 adds
the progress counters HEAD reports (``total_files``, ``staged_files``, ``staged_bytes``,
``announced_bytes`` on ``cart``, ``size`` on ``file``), nullable for the same reason: a
cart whose counters are NULL (created before 2.2, or by upstream code) is counted from its
file rows instead.
"""
from datetime import datetime

from pacifica.common.database import peewee
from pacifica.common.schema import SchemaManager

from .states import BUSY, CartStatus, FileStatus  # noqa: F401  (BUSY: re-exported)

DB = peewee.DatabaseProxy()

# The statuses under their historical names, for the modules that compare with them.
WAITING, STAGING, BUNDLING, READY, ERROR, DELETED = (
    CartStatus.WAITING, CartStatus.STAGING, CartStatus.BUNDLING, CartStatus.READY,
    CartStatus.ERROR, CartStatus.DELETED)
FILE_STAGED, FILE_ERROR = FileStatus.STAGED, FileStatus.ERROR


class StatusField(peewee.TextField):
    """A TEXT status column read back as a member of ``enum`` (see :mod:`.states`)."""

    def __init__(self, enum, *args, **kwargs):
        self.enum = enum
        super().__init__(*args, **kwargs)

    def db_value(self, value):
        return None if value is None else str(value)

    def python_value(self, value):
        return None if value is None else self.enum.read(value)


class BaseModel(peewee.Model):
    """Bound to the proxy, initialised at start-up."""

    class Meta:
        database = DB


class Cart(BaseModel):
    """One cart: a client-chosen uid, its status and where its bundle lives on disk.

    ``claimed_by``/``heartbeat``: the worker bundling it and when that worker last said it
    is alive (see :mod:`.claims`).
    """

    cart_uid = peewee.CharField(max_length=255, default='1', index=True)
    bundle_path = peewee.TextField(default='')
    bundle = peewee.BooleanField(null=True, default=False)
    creation_date = peewee.DateTimeField(default=datetime.now)
    updated_date = peewee.DateTimeField(default=datetime.now)
    deleted_date = peewee.DateTimeField(null=True)
    # Indexed (2.1): the workers look for busy carts every few seconds.
    status = StatusField(CartStatus, default=CartStatus.WAITING, index=True)
    error = peewee.TextField(default='')
    claimed_by = peewee.TextField(null=True)
    heartbeat = peewee.DateTimeField(null=True)
    # Progress (2.2), kept by the transactions that announce and stage files (see
    # :mod:`.lifecycle`), so HEAD reads this row and no file row.
    total_files = peewee.IntegerField(null=True)
    staged_files = peewee.IntegerField(null=True)
    staged_bytes = peewee.BigIntegerField(null=True)
    announced_bytes = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = 'cart'


class File(BaseModel):
    """One archive file of a cart: its archive id, its path in the cart and its hash.

    ``archive_id`` is the id the archive interface knows the file by (JSON ``id``); the
    column keeps upstream's name ``file_name``. ``claimed_by``/``heartbeat``: the worker
    staging it (see :mod:`.claims`).
    """

    cart = peewee.ForeignKeyField(Cart, backref='files', column_name='cart_id')
    archive_id = peewee.TextField(column_name='file_name')
    bundle_path = peewee.TextField()
    hash_type = peewee.CharField(max_length=255, null=True)
    hash_value = peewee.CharField(max_length=255, null=True)
    status = StatusField(FileStatus, default=FileStatus.WAITING)
    error = peewee.TextField(default='')
    # Indexed: the workers look for claimed files every few seconds.
    claimed_by = peewee.TextField(null=True, index=True)
    heartbeat = peewee.DateTimeField(null=True)
    # The size the archive announced (2.2); set once, so a file is counted once.
    size = peewee.BigIntegerField(null=True)

    class Meta:
        table_name = 'file'


class CartTasks(BaseModel):
    """A Celery task enqueued on behalf of a cart."""

    cart = peewee.ForeignKeyField(Cart, backref='tasks', column_name='cart_id')
    celery_task_id = peewee.CharField(max_length=255, default='')

    class Meta:
        table_name = 'carttasks'


def _claim_columns():
    return (('claimed_by', peewee.TextField(null=True)),
            ('heartbeat', peewee.DateTimeField(null=True)))


def _progress_columns():
    return (('cart', 'total_files', peewee.IntegerField(null=True)),
            ('cart', 'staged_files', peewee.IntegerField(null=True)),
            ('cart', 'staged_bytes', peewee.BigIntegerField(null=True)),
            ('cart', 'announced_bytes', peewee.BigIntegerField(null=True)),
            ('file', 'size', peewee.BigIntegerField(null=True)))


class CartSchema(SchemaManager):
    """Versions 0.1, 1.0 and 2.0 (upstream's, with upstream's two steps), 2.1 (ours: the
    workers' claims) and 2.2 (ours: progress counters). Both keep major 2, so upstream's
    ``is_safe`` still accepts them; this code needs 2.2's columns, so it refuses 2.0 and 2.1
    until ``dbsync`` ran."""

    service = 'cartd'
    version_table = 'cartsystem'
    versions = ((0, 1), (1, 0), (2, 0), (2, 1), (2, 2))
    requires = (2, 2)
    models = (Cart, File, CartTasks)

    def _migrator(self):
        from playhouse.migrate import SchemaMigrator  # pylint: disable=import-outside-toplevel
        return SchemaMigrator.from_database(getattr(self.database, 'obj', self.database))

    def update_0_1_to_1_0(self):
        """Add ``cart.bundle``."""
        from playhouse.migrate import migrate  # pylint: disable=import-outside-toplevel
        migrate(self._migrator().add_column('cart', 'bundle',
                                            peewee.BooleanField(null=True, default=False)))
        # Existing carts were all directory carts; say so rather than leave NULL.
        Cart.update(bundle=False).where(Cart.bundle.is_null()).execute()

    def update_1_0_to_2_0(self):
        """Create ``carttasks``."""
        CartTasks.create_table(safe=True)

    def update_2_0_to_2_1(self):
        """Add ``claimed_by`` and ``heartbeat`` to ``cart`` and ``file``, and the indexes
        the workers' look-ups use."""
        from playhouse.migrate import migrate  # pylint: disable=import-outside-toplevel
        migrator = self._migrator()
        migrate(*[migrator.add_column(table, name, field)
                  for table in ('cart', 'file') for name, field in _claim_columns()])
        migrate(migrator.add_index('file', ('claimed_by',)),
                migrator.add_index('cart', ('status',)))

    def update_2_1_to_2_2(self):
        """Add the progress counters. Existing carts keep NULL counters (HEAD counts their
        file rows, as before); filling them here would need every cart's ``sizes~`` file
        from the volume, which the schema command does not know."""
        from playhouse.migrate import migrate  # pylint: disable=import-outside-toplevel
        migrator = self._migrator()
        migrate(*[migrator.add_column(table, name, field)
                  for table, name, field in _progress_columns()])

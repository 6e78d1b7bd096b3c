"""Cartd's tables, named as upstream (``cart``, ``file``, ``carttasks``, ``cartsystem``) so a
database created by upstream cartd 0.7 is adopted as it is, and the other way round.

Datetimes are naive local time, as upstream wrote them. The path and id columns are TEXT
(upstream VARCHAR(255) broke deep paths on PostgreSQL and MySQL).
"""
from datetime import datetime

from pacifica.common.database import peewee
from pacifica.common.schema import SchemaManager

DB = peewee.DatabaseProxy()

# Cart statuses. 'waiting' is only the column default; REST-created carts start 'staging'.
WAITING, STAGING, BUNDLING, READY, ERROR, DELETED = (
    'waiting', 'staging', 'bundling', 'ready', 'error', 'deleted')
# A cart in one of these has work in flight: never delete or purge it.
BUSY = (WAITING, STAGING, BUNDLING)
# File statuses.
FILE_STAGED, FILE_ERROR = 'staged', 'error'


class BaseModel(peewee.Model):
    """Bound to the proxy, initialised at start-up."""

    class Meta:
        database = DB


class Cart(BaseModel):
    """One cart: a client-chosen uid, its status and where its bundle lives on disk."""

    cart_uid = peewee.CharField(max_length=255, default='1', index=True)
    bundle_path = peewee.TextField(default='')
    bundle = peewee.BooleanField(null=True, default=False)
    creation_date = peewee.DateTimeField(default=datetime.now)
    updated_date = peewee.DateTimeField(default=datetime.now)
    deleted_date = peewee.DateTimeField(null=True)
    status = peewee.TextField(default=WAITING)
    error = peewee.TextField(default='')

    class Meta:
        table_name = 'cart'


class File(BaseModel):
    """One archive file of a cart: its archive id, its path in the cart and its hash."""

    cart = peewee.ForeignKeyField(Cart, backref='files', column_name='cart_id')
    file_name = peewee.TextField()
    bundle_path = peewee.TextField()
    hash_type = peewee.CharField(max_length=255, null=True)
    hash_value = peewee.CharField(max_length=255, null=True)
    status = peewee.TextField(default='waiting')
    error = peewee.TextField(default='')

    class Meta:
        table_name = 'file'


class CartTasks(BaseModel):
    """A Celery task enqueued on behalf of a cart."""

    cart = peewee.ForeignKeyField(Cart, backref='tasks', column_name='cart_id')
    celery_task_id = peewee.CharField(max_length=255, default='')

    class Meta:
        table_name = 'carttasks'


class CartSchema(SchemaManager):
    """Versions 0.1, 1.0 and 2.0 (the code's), with upstream's two migration steps."""

    service = 'cartd'
    version_table = 'cartsystem'
    versions = ((0, 1), (1, 0), (2, 0))
    models = (Cart, File, CartTasks)

    def update_0_1_to_1_0(self):
        """Add ``cart.bundle``."""
        from playhouse.migrate import SchemaMigrator, migrate  # pylint: disable=import-outside-toplevel
        migrator = SchemaMigrator.from_database(getattr(self.database, 'obj', self.database))
        migrate(migrator.add_column('cart', 'bundle',
                                    peewee.BooleanField(null=True, default=False)))
        # Existing carts were all directory carts; say so rather than leave NULL.
        Cart.update(bundle=False).where(Cart.bundle.is_null()).execute()

    def update_1_0_to_2_0(self):
        """Create ``carttasks``."""
        CartTasks.create_table(safe=True)

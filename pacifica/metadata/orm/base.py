"""The model base every metadata table shares, and field shorthands.

Tables, columns, indexes and constraints are named exactly as upstream 0.13.0 created them
(peewee's legacy lower-cased class names, ``<table>_<column>`` indexes), so a database made by
the upstream ``dbsync`` is adopted as it is. Every default is applied by the application: the
DDL carries no DEFAULT clause, as upstream.
"""
import datetime
import uuid

from pacifica.common.database import family_of, peewee

DB = peewee.DatabaseProxy()


class SerialField(peewee.AutoField):
    """The integer ``id`` key: ``SERIAL`` on PostgreSQL, and on SQLite
    ``INTEGER PRIMARY KEY AUTOINCREMENT``, so that there too the id of a hard-deleted row is
    never handed out again (a plain SQLite rowid key reuses the largest one)."""

    def ddl(self, ctx):
        node = super().ddl(ctx)
        if family_of(self.model._meta.database) == 'sqlite':  # pylint: disable=protected-access
            return peewee.NodeList((node, peewee.SQL('AUTOINCREMENT')))
        return node


def utc_now():
    """The current UTC time, naive, truncated to whole seconds (the stored form)."""
    return datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None, microsecond=0)


REQUIRED = object()
"""Marks a NOT NULL column with no default: a create that omits it is refused (400)."""


class Base(peewee.Model):
    """``id`` (unless a table declares its own key), ``created``/``updated`` (NOT NULL) and
    ``deleted`` (NULL = live), all indexed."""

    id = SerialField()
    created = peewee.DateTimeField(default=utc_now, index=True)
    updated = peewee.DateTimeField(default=utc_now, index=True)
    deleted = peewee.DateTimeField(null=True, index=True)

    class Meta:
        database = DB
        legacy_table_names = True
        # the update path writes only what a request names; never every column
        only_save_dirty = True


def _default(default, null):
    return None if default is REQUIRED or (default is None and null) else default


def char(default='', null=False, index=False, unique=False):
    """``character varying(255)``; ``default=REQUIRED`` for a NOT NULL column with no default."""
    return peewee.CharField(max_length=255, null=null, index=index, unique=unique,
                            default=_default(default, null))


def text(default='', null=False, index=False):
    """``text``."""
    return peewee.TextField(null=null, index=index, default=_default(default, null))


def integer(default, index=False):
    """``integer`` NOT NULL with an application default."""
    return peewee.IntegerField(default=default, index=index)


def boolean(index=False):
    """``boolean`` NOT NULL, default false."""
    return peewee.BooleanField(default=False, index=index)


def date(index=True):
    """A nullable ``date`` (the suspense/accepted/... dates)."""
    return peewee.DateField(null=True, index=index)


def timestamp(index=True):
    """``timestamp without time zone`` NOT NULL, default now (whole seconds)."""
    return peewee.DateTimeField(default=utc_now, index=index)


def uuid_pk():
    """The ``uuid`` primary key of the K3 tables: a random uuid4 unless the client gives one."""
    return peewee.UUIDField(primary_key=True, default=uuid.uuid4)


def fk(model, backref, **kwargs):
    """A NOT NULL, indexed foreign key with no ON DELETE action (constraint
    ``<table>_<column>_fkey``); ``backref`` is the reverse-relation name of spec 2.7."""
    return peewee.ForeignKeyField(model, backref=backref, index=True, **kwargs)


def unique_index(model, name, *fields):
    """Add the named multi-column unique index upstream created for the uuid-keyed tables."""
    model.add_index(model.index(*fields, unique=True, name=name))

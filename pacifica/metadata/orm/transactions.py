"""Transactions (uploads), their files and key/value metadata, and who/what they involve."""
from pacifica.common.database import peewee

from .base import Base, char, date, fk, text, timestamp, unique_index, uuid_pk
from .people import Users
from .projects import Datasets, Instruments, Projects
from .vocab import AnalyticalTools, Keys, Relationships, Values


class Transactions(Base):
    """One upload."""

    description = text(None, null=True)
    suspense_date = date()


class TransSIP(Base):
    """Submitter, instrument and project of a transaction (one row per transaction).

    The primary key is the field ``id``, an FK to transactions stored in column ``id_id``.
    """

    id = fk(Transactions, 'transsip', primary_key=True, unique=True, column_name='id_id')
    submitter = fk(Users, 'transsip')
    instrument = fk(Instruments, 'transsip')
    project = fk(Projects, 'transsip')


class TransSAP(Base):
    """Submitter, analytical tool and project of a transaction."""

    id = fk(Transactions, 'transsap', primary_key=True, unique=True, column_name='id_id')
    submitter = fk(Users, 'transsap')
    analytical_tool = fk(AnalyticalTools, 'transsap')
    project = fk(Projects, 'transsap')


class Files(Base):
    """One file of a transaction."""

    name = char(index=True)
    subdir = char(index=True)
    ctime = timestamp()
    mtime = timestamp()
    hashsum = char(index=True)
    hashtype = char('sha1', index=True)
    size = peewee.BigIntegerField(default=-1)
    transaction = fk(Transactions, 'files')
    mimetype = char()
    encoding = char('UTF8')
    suspense_date = date()


class FileKeyValue(Base):
    """A key/value pair describing a file."""

    file = fk(Files, 'metadata')
    key = fk(Keys, 'file_links')
    value = fk(Values, 'file_links')

    class Meta:
        primary_key = peewee.CompositeKey('file', 'key', 'value')


class TransactionKeyValue(Base):
    """A key/value pair describing a transaction."""

    transaction = fk(Transactions, 'metadata')
    key = fk(Keys, 'trans_links')
    value = fk(Values, 'trans_links')

    class Meta:
        primary_key = peewee.CompositeKey('transaction', 'key', 'value')


class DatasetFile(Base):
    """A file's membership of a dataset."""

    dataset = fk(Datasets, 'datasets')
    file = fk(Files, 'files')

    class Meta:
        primary_key = peewee.CompositeKey('dataset', 'file')


class AToolTransaction(Base):
    """An analytical tool that processed a transaction."""

    transaction = fk(Transactions, 'atools')
    analytical_tool = fk(AnalyticalTools, 'transactions')

    class Meta:
        primary_key = peewee.CompositeKey('analytical_tool', 'transaction')


class TransactionUser(Base):
    """A user's role for a transaction; the "release" record DOIs and citations point at."""

    uuid = uuid_pk()
    user = fk(Users, 'transactions')
    transaction = fk(Transactions, 'users')
    relationship = fk(Relationships, 'transaction_user')


unique_index(TransactionUser, 'transactionuser_user_id_transaction_id_relationship_id',
             TransactionUser.user, TransactionUser.transaction, TransactionUser.relationship)

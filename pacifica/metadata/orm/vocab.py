"""Leaf tables: journals, keywords, keys, values, analytical tools, relationships, data sources."""
import uuid

from pacifica.common.database import peewee

from .base import Base, char, text, utc_now, uuid_pk


class Journals(Base):
    """A journal citations appear in."""

    name = char()
    impact_factor = peewee.FloatField(default=-1.0)
    website_url = char()
    encoding = char('UTF8')


class Keywords(Base):
    """A citation keyword."""

    keyword = char()
    encoding = char('UTF8')


class Keys(Base):
    """The key half of a key/value metadata pair."""

    key = char(index=True)
    display_name = char(index=True)
    description = text()
    encoding = char('UTF8')


class Values(Base):
    """The value half of a key/value metadata pair (table ``"values"``, quoted on PostgreSQL)."""

    value = char(index=True)
    display_name = char(index=True)
    description = text()
    encoding = char('UTF8')


class AnalyticalTools(Base):
    """A tool that analysed a transaction."""

    name = char()
    encoding = char('UTF8')


class Relationships(Base):
    """A named relationship (``member_of``, ``authorized_releaser``, ...); seeded on creation."""

    uuid = uuid_pk()
    name = char(unique=True)
    display_name = char(index=True)
    description = text()
    encoding = char('UTF8')


class DataSources(Base):
    """Where an instrument's data comes from."""

    uuid = uuid_pk()
    name = char(index=True)
    uri = char(index=True)
    display_name = char(index=True)
    description = text()
    encoding = char('UTF8')


SEED_RELATIONSHIPS = (
    ('upload_required', 'Required for Upload',
     'This relationship means that the objects are required for upload to be asserted.'),
    ('search_required', 'Required for Search',
     'This relationship means that the objects are required for search to be asserted.'),
    ('member_of', 'Member of', 'subject is a member of the object'),
    ('co_principal_investigator', 'Co-Principal Investigator',
     'subject is the co-principal investigator of the object'),
    ('principal_investigator', 'Principal Investigator',
     'subject is the principal investigator of the object'),
    ('custodian', 'Custodian', 'subject is the custodian of the object'),
    ('point_of_contact', 'Point of Contact', 'subject is the point of contact for the object'),
    ('authorized_releaser', 'Authorized Releaser',
     'subject is the authorized releaser of the object'),
)
"""Spec 2.8: other services look these names up, so every new ``relationships`` table has them."""


def seed_relationships():
    """Get-or-create the eight seeded relationships (random uuids, encoding UTF8)."""
    existing = {name for (name,) in Relationships.select(Relationships.name).tuples()}
    now = utc_now()
    rows = [{'uuid': uuid.uuid4(), 'name': name, 'display_name': display,
             'description': description, 'encoding': 'UTF8',
             'created': now, 'updated': now, 'deleted': None}
            for name, display, description in SEED_RELATIONSHIPS if name not in existing]
    if rows:
        Relationships.insert_many(rows).execute()

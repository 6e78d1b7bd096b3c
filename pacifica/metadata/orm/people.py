"""Users, institutions, groups and contributors, and the tables linking them."""
from pacifica.common.database import peewee

from .base import Base, boolean, char, fk, text, unique_index, uuid_pk
from .vocab import Relationships


class Users(Base):
    """A person. ``network_id`` and ``email_address`` are stored lower-cased."""

    first_name = char(index=True)
    middle_initial = char(index=True)
    last_name = char(index=True)
    network_id = char(None, null=True, index=True)
    email_address = char(index=True)
    encoding = char('UTF8')


class Institutions(Base):
    """An institution people belong to."""

    name = text()
    association_cd = char('UNK')
    is_foreign = boolean()
    encoding = char('UTF8')


class Groups(Base):
    """A group of users and instruments (id 0 is a valid id)."""

    name = char()
    is_admin = boolean()
    display_name = char(index=True)
    description = text()
    encoding = char('UTF8')


class Contributors(Base):
    """A citation author: a user at an institution."""

    user = fk(Users, 'contributions')
    first_name = char()
    middle_initial = char()
    last_name = char()
    dept_code = char()
    institution = fk(Institutions, 'contributors')
    encoding = char('UTF8')


class InstitutionUser(Base):
    """A user's relationship to an institution."""

    uuid = uuid_pk()
    user = fk(Users, 'institutions')
    institution = fk(Institutions, 'users')
    relationship = fk(Relationships, 'institution_user')


unique_index(InstitutionUser, 'institutionuser_user_id_institution_id_relationship_id',
             InstitutionUser.user, InstitutionUser.institution, InstitutionUser.relationship)


class UserGroup(Base):
    """A user's membership of a group."""

    user = fk(Users, 'groups')
    group = fk(Groups, 'members')

    class Meta:
        primary_key = peewee.CompositeKey('user', 'group')

"""Projects, instruments and datasets, and the tables linking them to people and tools."""
from pacifica.common.database import peewee

from .base import Base, boolean, char, date, fk, text, timestamp, unique_index, uuid_pk
from .people import Groups, Users
from .vocab import AnalyticalTools, DataSources, Keys, Relationships, Values


class Projects(Base):
    """A project (upstream's former "proposal"); the client chooses its string id."""

    id = peewee.CharField(primary_key=True, max_length=255)
    title = text(index=True)
    short_name = char('', null=True, index=True)
    abstract = text('', null=True)
    science_theme = char(None, null=True)
    project_type = char('', null=True)
    submitted_date = timestamp()
    accepted_date = date()
    actual_start_date = date()
    actual_end_date = date()
    closed_date = date()
    suspense_date = date()
    encoding = char('UTF8')


class Instruments(Base):
    """An instrument data is taken with."""

    display_name = char(index=True)
    name = char(index=True)
    name_short = char(index=True)
    active = boolean(index=True)
    encoding = char('UTF8')


class Datasets(Base):
    """A named set of files."""

    description = text(None, null=True)
    display_name = char(index=True)
    suspense_date = date()


class ProjectInstrument(Base):
    """An instrument used by a project."""

    uuid = uuid_pk()
    project = fk(Projects, 'instruments')
    instrument = fk(Instruments, 'projects')
    relationship = fk(Relationships, 'relationship')


unique_index(ProjectInstrument, 'projectinstrument_project_id_instrument_id_relationship_id',
             ProjectInstrument.project, ProjectInstrument.instrument,
             ProjectInstrument.relationship)


class ProjectUser(Base):
    """A user's role in a project."""

    uuid = uuid_pk()
    user = fk(Users, 'projects')
    project = fk(Projects, 'users')
    relationship = fk(Relationships, 'project_user')


unique_index(ProjectUser, 'projectuser_user_id_project_id_relationship_id',
             ProjectUser.user, ProjectUser.project, ProjectUser.relationship)


class ProjectGroup(Base):
    """A group attached to a project."""

    group = fk(Groups, 'projects')
    project = fk(Projects, 'groups')

    class Meta:
        primary_key = peewee.CompositeKey('group', 'project')


class InstrumentUser(Base):
    """A user's role for an instrument (custodian, ...)."""

    uuid = uuid_pk()
    instrument = fk(Instruments, 'custodians')
    user = fk(Users, 'instruments')
    relationship = fk(Relationships, 'instrument_user')


unique_index(InstrumentUser, 'instrumentuser_user_id_instrument_id_relationship_id',
             InstrumentUser.user, InstrumentUser.instrument, InstrumentUser.relationship)


class InstrumentGroup(Base):
    """An instrument's membership of a group."""

    instrument = fk(Instruments, 'groups')
    group = fk(Groups, 'instrument_members')

    class Meta:
        primary_key = peewee.CompositeKey('instrument', 'group')


class AToolProject(Base):
    """An analytical tool used by a project."""

    project = fk(Projects, 'atools')
    analytical_tool = fk(AnalyticalTools, 'projects')

    class Meta:
        primary_key = peewee.CompositeKey('analytical_tool', 'project')


class DatasetProjectUser(Base):
    """A user's role for a dataset within a project."""

    uuid = uuid_pk()
    dataset = fk(Datasets, 'userprojects')
    user = fk(Users, 'datasets')
    project = fk(Projects, 'datasets')
    relationship = fk(Relationships, 'dataset_project_user')


# PostgreSQL truncated upstream's 65-character name to 63; this is the name it holds.
unique_index(DatasetProjectUser, 'datasetprojectuser_dataset_id_user_id_project_id_relationship_i',
             DatasetProjectUser.dataset, DatasetProjectUser.user, DatasetProjectUser.project,
             DatasetProjectUser.relationship)


class InstrumentDataSource(Base):
    """A data source feeding an instrument."""

    instrument = fk(Instruments, 'data_sources')
    data_source = fk(DataSources, 'instruments')
    relationship = fk(Relationships, 'instrument_data_source')

    class Meta:
        primary_key = peewee.CompositeKey('instrument', 'data_source', 'relationship')


class InstrumentKeyValue(Base):
    """A key/value pair describing an instrument."""

    instrument = fk(Instruments, 'metadata')
    key = fk(Keys, 'instrument_links')
    value = fk(Values, 'instrument_links')
    relationship = fk(Relationships, 'instrument_kvp')

    class Meta:
        primary_key = peewee.CompositeKey('instrument', 'key', 'value', 'relationship')

"""Citations and DOIs, and the tables linking them to people, projects and releases."""
from pacifica.common.database import peewee

from .base import REQUIRED, Base, boolean, char, fk, integer, text
from .people import Contributors, Users
from .projects import Projects
from .transactions import TransactionUser
from .vocab import Journals, Keywords


class Citations(Base):
    """A published article."""

    article_title = text()
    journal = fk(Journals, 'citations')
    journal_volume = integer(-1)
    journal_issue = integer(-1)
    page_range = char()
    abstract_text = text()
    xml_text = text()
    release_authorization_id = char()
    doi_reference = char()
    encoding = char('UTF8')


class CitationContributor(Base):
    """An author of a citation, with their position."""

    citation = fk(Citations, 'authors')
    author = fk(Contributors, 'citations')
    author_precedence = integer(1)

    class Meta:
        primary_key = peewee.CompositeKey('citation', 'author')


class CitationKeyword(Base):
    """A keyword of a citation."""

    citation = fk(Citations, 'keywords')
    keyword = fk(Keywords, 'citations')

    class Meta:
        primary_key = peewee.CompositeKey('citation', 'keyword')


class CitationProject(Base):
    """A citation produced by a project."""

    citation = fk(Citations, 'projects')
    project = fk(Projects, 'citations')

    class Meta:
        primary_key = peewee.CompositeKey('citation', 'project')


class DOIEntries(Base):
    """A DOI; its natural key is the DOI string."""

    doi = peewee.CharField(primary_key=True, max_length=255)
    status = char()
    released = boolean()
    site_url = char(REQUIRED)
    encoding = char('UTF8')
    creator = fk(Users, 'dois_created')


class DOIAuthors(Base):
    """An author as registered with a DOI."""

    last_name = char(REQUIRED)
    first_name = char(REQUIRED)
    email = char(None, null=True)
    affiliation = char(None, null=True)
    orcid = char(None, null=True)


class DOITransaction(Base):
    """The release record (a transaction_user uuid) a DOI was minted for."""

    doi = fk(DOIEntries, 'transactions', primary_key=True, column_name='doi')
    transaction = fk(TransactionUser, 'doi_releases')


class CitationTransaction(Base):
    """A citation of a release record (a transaction_user uuid)."""

    citation = fk(Citations, 'release_entries')
    transaction = fk(TransactionUser, 'citations')

    class Meta:
        primary_key = peewee.CompositeKey('citation', 'transaction')


class CitationDOI(Base):
    """A DOI of a citation."""

    doi = fk(DOIEntries, 'doi_citations')
    citation = fk(Citations, 'doi_entries')

    class Meta:
        primary_key = peewee.CompositeKey('citation', 'doi')


class DOIAuthorMapping(Base):
    """An author of a DOI, with their position."""

    author = fk(DOIAuthors, 'doi_authorships')
    doi = fk(DOIEntries, 'authors')
    author_order = integer(1)

    class Meta:
        primary_key = peewee.CompositeKey('author', 'doi', 'author_order')


class DOIInfo(Base):
    """A key/value pair describing a DOI."""

    doi = fk(DOIEntries, 'metadata', column_name='doi')
    key = char(REQUIRED)
    value = char(REQUIRED)

    class Meta:
        primary_key = peewee.CompositeKey('doi', 'key')

"""The 45 metadata tables, grouped by domain; :data:`ORM_OBJECTS` lists them in upstream order.

Tables are created in this order (every FK target comes before the tables pointing at it).
"""
from .base import DB, Base, utc_now
from .citations import (CitationContributor, CitationDOI, CitationKeyword, CitationProject,
                        Citations, CitationTransaction, DOIAuthorMapping, DOIAuthors,
                        DOIEntries, DOIInfo, DOITransaction)
from .people import Contributors, Groups, InstitutionUser, Institutions, UserGroup, Users
from .projects import (AToolProject, Datasets, DatasetProjectUser, InstrumentDataSource,
                       InstrumentGroup, InstrumentKeyValue, Instruments, InstrumentUser,
                       ProjectGroup, ProjectInstrument, Projects, ProjectUser)
from .transactions import (AToolTransaction, DatasetFile, FileKeyValue, Files,
                           TransactionKeyValue, Transactions, TransactionUser, TransSAP,
                           TransSIP)
from .vocab import (AnalyticalTools, DataSources, Journals, Keys, Keywords, Relationships,
                    Values, seed_relationships)

ORM_OBJECTS = (
    Journals, Users, Institutions, Projects, Instruments, Citations, Contributors, Datasets,
    Relationships, DataSources, Keywords, Groups, AnalyticalTools, InstrumentUser,
    InstitutionUser, CitationContributor, CitationKeyword, ProjectInstrument, ProjectUser,
    ProjectGroup, CitationProject, Transactions, TransSIP, TransSAP, Files, Keys, Values,
    FileKeyValue, TransactionKeyValue, UserGroup, DatasetFile, DatasetProjectUser,
    InstrumentGroup, AToolProject, AToolTransaction, TransactionUser, DOIEntries, DOIAuthors,
    DOITransaction, CitationTransaction, CitationDOI, DOIAuthorMapping, DOIInfo,
    InstrumentDataSource, InstrumentKeyValue,
)

__all__ = ['DB', 'Base', 'ORM_OBJECTS', 'seed_relationships', 'utc_now'] + [
    model.__name__ for model in ORM_OBJECTS]

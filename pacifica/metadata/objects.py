"""The object table: the 45 generic endpoints, declared once as data.

Each row names the URL, the model, the ``_id`` rule of spec 2.6 and the few per-object facts
the model cannot express (JSON key order, key-hash order, fields that are not filters). All
generic machinery (filters, coercion, serialisation, writes) reads from :class:`ObjectType`.
"""
from dataclasses import dataclass, field
from typing import Dict, FrozenSet, Optional, Tuple

from pacifica.common.database import peewee

from . import orm

COMMON = ('created', 'updated', 'deleted')

# spec 2.7 / D13: reverse lists whose children have a composite key get the "other side" of
# the link here (upstream always answered []). Keyed by (child model, FK field name).
REVERSE_ITEM_OVERRIDES = {
    ('InstrumentDataSource', 'instrument'): 'data_source',
    ('InstrumentDataSource', 'data_source'): 'instrument',
    ('InstrumentDataSource', 'relationship'): 'data_source',
    ('DOIInfo', 'doi'): 'key',
}
PAIR = 'key/value pair'


@dataclass(frozen=True)
class Reverse:
    """One reverse-relation list: ``name`` on the parent, built from ``child`` rows whose
    ``fk`` points at the parent; each item is the child's ``item`` field or a key/value pair."""

    name: str
    child: type
    fk: peewee.ForeignKeyField
    item: Optional[str]          # None means PAIR


@dataclass
class ObjectType:
    """One generic endpoint and everything the generic code needs to know about it."""

    name: str
    model: type
    id_rule: str                                   # 'I', 'T' or 'H' (spec 2.6)
    hash_keys: Tuple[str, ...] = ()               # rule H order
    json_keys: Optional[Tuple[str, ...]] = None   # GET key order when not the column order
    no_filter: FrozenSet[str] = frozenset()
    lower: FrozenSet[str] = frozenset()           # stored and compared lower-cased
    fields: Dict[str, peewee.Field] = field(init=False)
    pk_fields: Tuple[peewee.Field, ...] = field(init=False)
    reverse: Tuple[Reverse, ...] = field(init=False, default=())

    def __post_init__(self):
        meta = self.model._meta  # pylint: disable=protected-access
        own = [f for f in meta.sorted_fields if f.name not in COMMON]
        order = self.json_keys or tuple(f.name for f in own if f.name != 'id')
        self.fields = {name: meta.fields[name] for name in order}
        if 'id' in meta.fields:
            self.fields = dict(id=meta.fields['id'], **self.fields)
        if set(self.fields) != {f.name for f in own}:
            raise ValueError('json_keys of {} do not match its fields'.format(self.name))
        if isinstance(meta.primary_key, peewee.CompositeKey):
            self.pk_fields = tuple(meta.fields[n] for n in meta.primary_key.field_names)
        else:
            self.pk_fields = (meta.primary_key,)

    @property
    def table(self):
        """The table name."""
        return self.model._meta.table_name  # pylint: disable=protected-access

    @property
    def class_name(self):
        """The upstream class name (``delete_obj --object-name``)."""
        return self.model.__name__

    @property
    def has_id(self):
        """Whether ``_id`` names a real key (K1, K2 and transsip/transsap)."""
        return 'id' in self.fields

    @property
    def composite(self):
        """Whether the primary key has several columns."""
        return len(self.pk_fields) > 1

    @property
    def filter_fields(self):
        """Fields usable as filters (besides created/updated/deleted)."""
        return {n: f for n, f in self.fields.items() if n not in self.no_filter and n != 'id'}

    @property
    def output_fields(self):
        """Fields rendered after ``_id``, in spec order (``id`` is ``_id``)."""
        return [(n, f) for n, f in self.fields.items() if n != 'id']


def _o(name, model, rule, hash_keys='', json_keys=None, no_filter='', lower=''):
    return ObjectType(name, model, rule, tuple(hash_keys.split()),
                      tuple(json_keys.split()) if json_keys else None,
                      frozenset(no_filter.split()), frozenset(lower.split()))


OBJECTS = (
    _o('journals', orm.Journals, 'I'),
    _o('users', orm.Users, 'I', lower='network_id email_address'),
    _o('institutions', orm.Institutions, 'I'),
    _o('projects', orm.Projects, 'I', json_keys=(
        'title short_name science_theme project_type submitted_date abstract '
        'actual_start_date accepted_date actual_end_date closed_date suspense_date encoding')),
    _o('instruments', orm.Instruments, 'I',
       json_keys='name display_name name_short active encoding'),
    _o('citations', orm.Citations, 'I', json_keys=(
        'article_title abstract_text xml_text journal journal_volume journal_issue page_range '
        'doi_reference release_authorization_id encoding'),
       no_filter='abstract_text xml_text release_authorization_id'),
    _o('contributors', orm.Contributors, 'I',
       json_keys='first_name middle_initial last_name dept_code user institution encoding'),
    _o('datasets', orm.Datasets, 'I', json_keys='display_name description suspense_date'),
    _o('relationships', orm.Relationships, 'T'),
    _o('data_sources', orm.DataSources, 'T'),
    _o('keywords', orm.Keywords, 'I'),
    _o('groups', orm.Groups, 'I', json_keys='name display_name description encoding is_admin'),
    _o('analytical_tools', orm.AnalyticalTools, 'I'),
    _o('instrument_user', orm.InstrumentUser, 'T'),
    _o('institution_user', orm.InstitutionUser, 'T'),
    _o('citation_contributor', orm.CitationContributor, 'H', 'citation author'),
    _o('citation_keyword', orm.CitationKeyword, 'H', 'citation keyword'),
    _o('project_instrument', orm.ProjectInstrument, 'T',
       json_keys='uuid instrument project relationship'),
    _o('project_user', orm.ProjectUser, 'T'),
    _o('project_group', orm.ProjectGroup, 'H', 'project group'),
    _o('citation_project', orm.CitationProject, 'H', 'citation project'),
    _o('transactions', orm.Transactions, 'I'),
    _o('transsip', orm.TransSIP, 'I'),
    _o('transsap', orm.TransSAP, 'I'),
    _o('files', orm.Files, 'I', json_keys=(
        'name subdir mimetype ctime mtime transaction size hashsum hashtype suspense_date '
        'encoding')),
    _o('keys', orm.Keys, 'I'),
    _o('values', orm.Values, 'I'),
    _o('file_key_value', orm.FileKeyValue, 'H', 'key file value'),
    _o('trans_key_value', orm.TransactionKeyValue, 'H', 'key transaction value'),
    _o('user_group', orm.UserGroup, 'H', 'user group'),
    _o('dataset_file', orm.DatasetFile, 'H', 'dataset file'),
    _o('dataset_project_user', orm.DatasetProjectUser, 'T'),
    _o('instrument_group', orm.InstrumentGroup, 'H', 'group instrument'),
    _o('atool_project', orm.AToolProject, 'H', 'project analytical_tool'),
    _o('atool_transaction', orm.AToolTransaction, 'H', 'transaction analytical_tool'),
    _o('transaction_user', orm.TransactionUser, 'T',
       json_keys='uuid relationship transaction user'),
    _o('doi_entries', orm.DOIEntries, 'T', json_keys='doi status released site_url creator encoding',
       no_filter='site_url'),
    _o('doi_authors', orm.DOIAuthors, 'I'),
    _o('doi_transaction', orm.DOITransaction, 'H', 'doi transaction'),
    _o('citation_transaction', orm.CitationTransaction, 'H', 'transaction citation',
       json_keys='transaction citation'),
    _o('citation_doi', orm.CitationDOI, 'H', 'citation doi'),
    _o('doi_author_mapping', orm.DOIAuthorMapping, 'H', 'author doi author_order'),
    _o('doi_info', orm.DOIInfo, 'H', 'doi key'),
    _o('instrument_data_source', orm.InstrumentDataSource, 'H',
       'instrument data_source relationship'),
    _o('instrument_key_value', orm.InstrumentKeyValue, 'H', 'key instrument value relationship'),
)

BY_NAME = {obj.name: obj for obj in OBJECTS}
BY_MODEL = {obj.model: obj for obj in OBJECTS}
BY_CLASS = {obj.class_name: obj for obj in OBJECTS}


def _reverse_item(child, fk_field, parent):
    """Which child field a reverse list shows (spec 2.7, with the D13 fixes)."""
    fks = [f for f in child._meta.sorted_fields  # pylint: disable=protected-access
           if isinstance(f, peewee.ForeignKeyField)]
    names = {f.name for f in fks}
    if 'key' in names and 'value' in names:
        return None
    override = REVERSE_ITEM_OVERRIDES.get((child.__name__, fk_field.name))
    if override:
        return override
    others = {f.rel_model for f in fks} - {parent}
    if len(others) == 1:
        other = others.pop()
        return next(f.name for f in fks if f.rel_model is other)
    pk = child._meta.primary_key  # pylint: disable=protected-access
    if isinstance(pk, peewee.CompositeKey):
        raise ValueError('reverse list {}.{} needs an entry in REVERSE_ITEM_OVERRIDES'.format(
            child.__name__, fk_field.name))
    return pk.name


def _attach_reverse():
    for obj in OBJECTS:
        found = []
        for fk_field, child in obj.model._meta.backrefs.items():  # pylint: disable=protected-access
            found.append(Reverse(fk_field.backref, child, fk_field,
                                 _reverse_item(child, fk_field, obj.model)))
        obj.reverse = tuple(found)


_attach_reverse()

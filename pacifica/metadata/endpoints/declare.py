"""The declarations of the query endpoints: each argument once (:class:`Arg`), and the JSON
Schemas of their request bodies and answers.

A resource of :mod:`.base` carries its ``args`` and reads its arguments through them (so a
handler cannot read an argument it does not declare), and :mod:`..openapi` describes the
endpoint from the same objects. The answers' schemas are built from the ORM columns the
values come from, so a column that may hold NULL is described as nullable.

What an argument accepts in words (``10abc`` is not an id, ``-1`` switches a search filter
off, terms are split on ``+ ,;``) is checked by the query functions, which keep upstream's
reason phrases; the schemas here state the same rules for clients, and the tests hold the
two together (every declared limit answered as declared, every answer matching its
schema).
"""
from pacifica.common.openapi import query_param

from ..columns import DATE, DATETIME, field_schema
from ..orm import Instruments, Projects, Users
from ..queries.blocks import MAX_TERMS
from ..queries.transactions import MAX_ID_DIGITS

# -- arguments -----------------------------------------------------------------------------
ID = {'type': 'integer', 'minimum': 0, 'maximum': 10 ** MAX_ID_DIGITS - 1}
TEXT = {'type': 'string', 'minLength': 1}
TERMS = {'type': 'string', 'minLength': 1,
         'description': 'terms separated by runs of "+", space, "," or ";" (at most {}); '
                        'each must match, in any searched column'.format(MAX_TERMS)}
WHEN = {'type': 'string', 'minLength': 1,
        'description': 'a date or date and time: ISO 8601 ("2020-05-10", '
                       '"2020-05-10T12:00:00") or a form such as "Mon Jul 12 00:00:00 2017"'}
OPTION_SIMPLE = {'type': 'string', 'description': '"simple" for the short user block; any '
                                                 'other value gives the full block'}
ID_OR_OFF = {'type': 'integer', 'minimum': -1, 'maximum': 10 ** MAX_ID_DIGITS - 1,
             'description': '-1 switches the filter off'}


class Arg:
    """One argument of a query endpoint: from its path segment (in declaration order) or the
    query parameter of the same name; ``query_only`` arguments are never path segments."""

    def __init__(self, name, schema, description='', required=False, query_only=False):
        self.name = name
        self.schema = schema
        self.description = description
        self.required = required
        self.query_only = query_only

    def parameter(self):
        """The OpenAPI parameter object."""
        return query_param(self.name, self.schema, self.description, self.required)


def path_names(declared):
    """The names of the arguments a path segment can give, in order."""
    return tuple(arg.name for arg in declared if not arg.query_only)


# -- shared blocks of the answers ----------------------------------------------------------
def column(field):
    """The schema of a value read from ``field`` (nullable as the column is)."""
    return field_schema(field)


def record(properties, optional=()):
    """An object with these keys (all required except ``optional``)."""
    return {'type': 'object', 'properties': dict(properties),
            'required': [name for name in properties if name not in optional]}


def keyed(values, description=''):
    """An object keyed by ids (JSON keys are always text)."""
    found = {'type': 'object', 'additionalProperties': values}
    if description:
        found['description'] = description
    return found


def array(items):
    """A JSON array of ``items``."""
    return {'type': 'array', 'items': items}


def ref(name):
    """A reference to a component schema."""
    return {'$ref': '#/components/schemas/' + name}


STRING = {'type': 'string'}
INTEGER = {'type': 'integer'}
BOOLEAN = {'type': 'boolean'}
ISO = DATETIME
ISO_OR_NULL = dict(ISO, type=['string', 'null'])
DAY = DATE
DAY_OR_DASHES = {'type': 'string', 'pattern': '^([0-9]{4}-[0-9]{2}-[0-9]{2}|---)$'}
SECONDS = {'type': 'string', 'pattern': '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$'}
SUCCESS = record({'status': {'const': 'success'}})

SIMPLE_USER = record({
    'user_id': column(Users.id), 'person_id': column(Users.id),
    'first_name': column(Users.first_name), 'last_name': column(Users.last_name),
    'display_name': STRING, 'email_address': column(Users.email_address),
    'emsl_employee': BOOLEAN})
USER_PROJECT = record({'id': column(Projects.id), 'title': column(Projects.title),
                       'short_name': column(Projects.short_name),
                       'project_type': column(Projects.project_type),
                       'science_theme': column(Projects.science_theme)})
USER = record({
    'category': STRING, 'user_id': column(Users.id), 'person_id': column(Users.id),
    'first_name': column(Users.first_name), 'last_name': column(Users.last_name),
    'network_id': column(Users.network_id), 'email_address': STRING,
    'last_updated': ISO, 'display_name': STRING, 'simple_display_name': STRING,
    'emsl_employee': BOOLEAN, 'projects': keyed(USER_PROJECT, 'by project id')})
PROJECT = record({
    'id': column(Projects.id), 'title': STRING,
    'category': {'type': ['integer', 'string'],
                 'description': 'the year of the end date, or "Unknown"'},
    'display_name': STRING, 'currently_active': BOOLEAN,
    'state': {'enum': ['pre_active', 'active', 'closed', 'invalid']},
    'start_date': DAY_OR_DASHES, 'end_date': DAY_OR_DASHES, 'closed_date': DAY_OR_DASHES,
    'science_theme': column(Projects.science_theme), 'project_type': STRING})
INSTRUMENT = record({
    'id': column(Instruments.id), 'category': STRING, 'groups': array(STRING),
    'display_name': STRING, 'name': column(Instruments.name),
    'name_short': column(Instruments.name_short), 'active': column(Instruments.active)})
PROJECT_INSTRUMENT = record({
    'id': column(Instruments.id), 'display_name': column(Instruments.display_name),
    'name': column(Instruments.name), 'name_short': column(Instruments.name_short),
    'active': column(Instruments.active)})
# A file as GET /files renders it (the Files component schema of the object table).
FILE = ref('Files')
KEY_VALUE = record({'key': STRING, 'value': STRING})
FILE_WITH_PAIRS = {'allOf': [FILE, record({'key_values': array(KEY_VALUE)})]}
RELEASE = {
    'release_date': ISO_OR_NULL,
    'release_state': {'enum': ['released', 'not_released']},
    'release_state_display': {'enum': ['Released', 'Not Released']}}
TRANSACTION = {
    'transaction_id': INTEGER, 'submitter_id': column(Users.id),
    'project_id': column(Projects.id), 'instrument_id': column(Instruments.id),
    'file_ids': array(INTEGER), 'submitted': ISO, **RELEASE}
NAMES = {'submitter_name': STRING, 'project_name': column(Projects.title),
         'instrument_name': column(Instruments.display_name),
         'files': keyed(FILE_WITH_PAIRS, 'by file id, ordered by name')}
TRANSSIP = {'created': ISO, 'updated': ISO, 'deleted': ISO_OR_NULL, '_id': INTEGER,
            'submitter': INTEGER, 'instrument': INTEGER, 'project': column(Projects.id)}
TRANSACTION_BY_ID = record({**TRANSSIP, **TRANSACTION, **NAMES,
                            'key_values': keyed(STRING, 'key -> value')})
SEARCH_ENTRY = record({
    'file_size_bytes': INTEGER, 'file_count': INTEGER,
    'status': record({'trans_id': INTEGER, 'person_id': INTEGER, 'step': {'const': 6},
                      'message': {'const': 'verified'}, 'status': {'const': 'success'}}),
    'metadata': record({**TRANSACTION, **NAMES}, optional=tuple(NAMES)),
    'kv_pairs': keyed(STRING, 'key -> value')})
SEARCH = record({
    'transactions': keyed(SEARCH_ENTRY, 'by transaction id'), 'times': keyed(ISO),
    'total_count': INTEGER, 'items_per_page': INTEGER, 'page': INTEGER, 'offset': INTEGER})
DETAILS = keyed(record({
    'upload_id': STRING, 'upload_date': DAY, 'file_date_start': DAY, 'file_date_end': DAY,
    'uploaded_by_id': INTEGER, 'bundle_size': INTEGER, 'file_count': INTEGER,
    'upload_datetime': SECONDS, 'project_id': column(Projects.id),
    'instrument_id': INTEGER}), 'by transaction id')
DOI_ENTRY = record({'doi_status': STRING, 'is_released': BOOLEAN, 'doi_reference': STRING,
                    'site_url': {'type': ['string', 'null']}, 'submission_date': ISO,
                    'metadata': keyed(STRING)})
CITATION = record({'citation_id': INTEGER, 'title': {'type': ['string', 'null']},
                   'doi_reference': {'type': ['string', 'null']}})
RELEASED = record({
    'transaction': INTEGER, 'user': {'anyOf': [SIMPLE_USER, {'type': 'null'}]},
    'release_date': ISO, 'release_state': {'const': 'released'},
    'display_state': {'const': 'Released'}, 'total_size_bytes': INTEGER,
    'total_file_count': INTEGER,
    'release_doi_entries': {'anyOf': [array(DOI_ENTRY), {'type': 'null'}]},
    'release_citations': {'anyOf': [array(CITATION), {'type': 'null'}]}})
NOT_RELEASED = record({'user': {'type': 'null'}, 'release_state': {'const': 'not_released'},
                       'display_state': {'const': 'Not Released'}, 'transaction': INTEGER})
RELEASE_STATE = keyed({'anyOf': [RELEASED, NOT_RELEASED]}, 'by transaction id')
SUMMARY = keyed(keyed(record({
    'transaction_count': INTEGER, 'upload_date_start': DAY, 'upload_date_end': DAY,
    'project_id': column(Projects.id), 'instrument_id': INTEGER}), 'by instrument id'),
    'by project id')
BY_DATE = record({
    'day_graph': record({'by_date': record({
        'available_dates': keyed({}), 'file_count': keyed(INTEGER, 'by local day'),
        'file_volume': keyed(INTEGER, 'by local day'),
        'transactions': keyed(array(INTEGER), 'by local day'),
        'file_volume_array': keyed({}), 'transaction_count_array': keyed({})})}),
    'summary_totals': record({
        'upload_stats': record({kind: keyed(INTEGER, 'files by {} id'.format(kind))
                                for kind in ('project', 'instrument', 'user')}),
        'total_file_count': INTEGER, 'total_size_bytes': INTEGER,
        'total_size_string': {'const': ''}}),
    'transaction_info': record({'transaction': keyed({}),
                                'project': keyed({'type': ['string', 'null']}),
                                'instrument': keyed({'type': ['string', 'null']}),
                                'user': keyed(STRING)})})
HAS_DATA = keyed(array(record({'instrument': INTEGER, 'end_time': ISO, 'start_time': ISO,
                               'num_results': {'type': 'integer', 'minimum': 1}})),
                 'by project id, in the order of the body')
CATEGORIES = array(record({'category': column(Instruments.name),
                           'instrument_list': array(INTEGER)}))
FILE_DETAILS = array(record({'file_id': INTEGER, 'relative_local_path': STRING,
                             'file_size_bytes': INTEGER, 'hashtype': STRING,
                             'hashsum': STRING}))
EARLIEST_LATEST = record({'earliest': SECONDS, 'latest': SECONDS})
OBJECT_INFO = {
    'anyOf': [
        array(STRING),
        record({'available_objects': keyed(STRING, 'object name -> class name')}),
        record({'callable_name': STRING, 'last_changed_date': SECONDS,
                'primary_keys': array(STRING), 'field_list': array(STRING),
                'field_types': keyed(STRING), 'foreign_keys': array(STRING),
                'related_models': keyed(record({'db_column': STRING, 'db_table': STRING,
                                                'primary_key': STRING})),
                'related_names': array(STRING), 'record_count': INTEGER}),
        record({'hash_list': array(STRING),
                'hash_lookup': keyed(record({'key_list': {'type': 'object'},
                                             'index_hash': STRING}))})],
    'description': 'no name: the object names; "list": names and classes; a name: its '
                   'overview; a name and "hashlist": the hashes'}
MIGRATE_INSTRUMENTS = keyed({'allOf': [INSTRUMENT, record(
    {'projects': array(column(Projects.id))})]}, 'by instrument id')
MIGRATE_PROJECTS = keyed({'allOf': [PROJECT, record({
    'abstract': column(Projects.abstract), 'instruments': array(INTEGER),
    'users': array(INTEGER)})]}, 'by project id')
MIGRATE_USERS = keyed({'allOf': [SIMPLE_USER, record({
    'projects': array(column(Projects.id)), 'instruments': array(INTEGER),
    'institutions': array(INTEGER)})]}, 'by user id')
NEW_ENTRY = array(record({'entry': STRING, 'was_created': BOOLEAN}))
LATEST = record({'latest_transaction_id': {'type': ['integer', 'null']}})

# -- request bodies --------------------------------------------------------------------------
ID_ITEM = {'anyOf': [ID, {'type': 'string', 'pattern': '^ *[0-9]{1,%d} *$' % MAX_ID_DIGITS}]}
IDS = array(ID_ITEM)
PROJECT_IDS = array({'type': ['string', 'integer']})
DOIS = array(STRING)
TKV_UPLOAD = {'type': 'object', 'propertyNames': ID_ITEM['anyOf'][1],
              'description': 'transaction id -> {key: value}',
              'additionalProperties': {'type': 'object', 'additionalProperties': {
                  'type': ['string', 'number', 'boolean']}}}
DOI_ITEM = {'type': 'object', 'required': ['doi', 'owner_network_id', 'meta'],
            'properties': {'doi': {'type': 'string', 'minLength': 1},
                           'id': {}, 'owner_network_id': STRING,
                           'meta': {'type': 'object', 'required': ['doi_infix'],
                                    'properties': {'doi_infix': {
                                        'type': 'string', 'pattern': '[0-9]$',
                                        'description': 'ends in ".<transaction id>"'},
                                        'site_url': STRING}}}}
DOI_ENTRIES = {'anyOf': [DOI_ITEM, array(DOI_ITEM)]}
INGEST = array({'type': 'object', 'required': ['destinationTable'],
                'properties': {'destinationTable': STRING}})

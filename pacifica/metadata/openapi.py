"""Metadata's OpenAPI description, generated from the object table (:mod:`.objects`), the
filter rules (:mod:`.queries.filters`), the value coercions (:mod:`.queries.coerce`) and the
mounted query endpoints (:mod:`.endpoints`), so it lists exactly what the service parses.
"""
from pacifica.common import openapi as oa
from pacifica.common.database import peewee

from .body import JSON_TYPES, MAX_INGEST_OBJECTS, MAX_OBJECTS
from .objects import OBJECTS
from .queries import filters
from .queries.coerce import BIGINT_RANGE, INT_RANGE, MAX_CHAR, MAX_REAL, is_temporal, is_text, \
    target_field

# Dates are ISO 8601 without a zone ("2017-07-15T00:00:00"), which is not RFC 3339's
# date-time: a pattern, not a format, so a validator does not refuse upstream's own output.
DATETIME = {'type': 'string', 'pattern': '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+$'}
DATE = {'type': 'string', 'pattern': '^[0-9]{4}-[0-9]{2}-[0-9]{2}$'}
NULL_BODY = {'type': 'null', 'description': 'the JSON literal null (upstream\'s answer)'}
ANY = {'description': 'JSON (see the metadata queries documentation)'}
WRITE_ERRORS = (400, 404, 409, 411, 413, 415, 503)
SHARED_PARAMS = frozenset(
    ('deleted', 'deleted_operator') + filters.GET_SETTINGS + filters.DELETE_SETTINGS +
    tuple(base + suffix for base in ('created', 'updated')
          for suffix in ('', '_operator', '_0', '_1')))


def field_schema(field):
    """The JSON Schema of the values a column holds (an FK: its target key's)."""
    target = target_field(field)
    if isinstance(target, peewee.DateTimeField):
        schema = dict(DATETIME)
    elif isinstance(target, peewee.DateField):
        schema = dict(DATE)
    elif isinstance(target, peewee.BooleanField):
        schema = {'type': 'boolean'}
    elif isinstance(target, peewee.BigIntegerField):
        schema = {'type': 'integer', 'minimum': BIGINT_RANGE[0], 'maximum': BIGINT_RANGE[1]}
    elif isinstance(target, (peewee.IntegerField, peewee.AutoField)):
        schema = {'type': 'integer', 'minimum': INT_RANGE[0], 'maximum': INT_RANGE[1]}
    elif isinstance(target, peewee.FloatField):
        schema = {'type': 'number', 'minimum': -MAX_REAL, 'maximum': MAX_REAL}
    elif isinstance(target, peewee.UUIDField):
        schema = {'type': 'string', 'format': 'uuid'}
    elif isinstance(target, peewee.CharField):
        schema = {'type': 'string', 'maxLength': MAX_CHAR}
    else:
        schema = {'type': 'string'}
    if field.null:
        schema['type'] = [schema['type'], 'null']
    return schema


def _id_schema(obj):
    if obj.id_rule == 'I':
        return field_schema(obj.fields['id'])
    return {'type': 'string', 'pattern': '^[0-9a-f]{32}$',
            'description': 'md5 of {}'.format(' '.join(obj.hash_keys) if obj.id_rule == 'H'
                                              else 'created, updated and deleted')}


def object_schema(obj):
    """One row as GET renders it (spec 2.6), reverse lists included (recursion_depth=1)."""
    props = {'_id': _id_schema(obj)}
    props.update({name: field_schema(field) for name, field in obj.output_fields})
    props.update({'created': DATETIME, 'updated': DATETIME,
                  'deleted': dict(DATETIME, type=['string', 'null'])})
    for rel in obj.reverse:
        item = ({'type': 'object', 'properties': {'key_id': {}, 'value_id': {}}}
                if rel.item is None else field_schema(getattr(rel.child, rel.item)))
        props[rel.name] = {'type': ['array', 'null'], 'items': item,
                           'description': 'null when longer than recursion_limit'}
    return {'type': 'object', 'title': obj.class_name, 'properties': props,
            'required': ['_id', 'created', 'updated', 'deleted'] +
                        [name for name, _field in obj.output_fields]}


def input_schema(obj):
    """What PUT and POST read from an object of the body (unknown keys are ignored)."""
    props = {'_id': field_schema(obj.fields['id'])} if obj.has_id else {}
    props.update({name: field_schema(field) for name, field in obj.output_fields})
    props.update({'created': DATETIME, 'updated': DATETIME,
                  'deleted': dict(DATETIME, type=['string', 'null'])})
    return {'type': 'object', 'properties': props}


def _operators(field):
    allowed = ['eq', 'ne', 'lt', 'lte', 'gt', 'gte']
    if is_temporal(field):
        return allowed + ['between']
    allowed += ['in', 'not_in']
    if is_text(field):
        allowed += ['like', 'ilike', 'regexp', 'iregexp']
    return allowed


def _filter(name, field, schema=None):
    """The parameters of one filter (spec 4.2.3): value, alias, operator, between bounds."""
    schema = dict(schema or field_schema(field))
    if isinstance(schema['type'], list):
        # a query value is never JSON null (an empty value means "any" on GET, see filters)
        schema['type'] = next(kind for kind in schema['type'] if kind != 'null')
    if schema['type'] == 'boolean':
        schema = {'type': 'string', 'description': 'true/false, 1/0, yes/no, on/off'}
    params = [oa.query_param(name, schema),
              oa.query_param(name + '_operator', {'type': 'string', 'enum': _operators(field)})]
    if is_temporal(field) or name in ('created', 'updated'):
        params += [oa.query_param(name + '_0', schema), oa.query_param(name + '_1', schema)]
    elif name != '_id':
        params.append(oa.query_param(name + '_id', schema, 'alias of ' + name))
    return params


def filter_params(obj, mode, shared):
    """Every query parameter :func:`filters.parse` understands for ``obj`` in ``mode``, as
    references to ``shared`` (the document's parameters: GET, POST and DELETE of an object
    share their filters)."""
    found = []
    for param in _filter_params(obj, mode):
        # the visibility, time stamp and paging parameters are the same on every object
        same = param['name'] in SHARED_PARAMS
        key = param['name'] if same else '{}.{}'.format(obj.class_name, param['name'])
        shared.setdefault(key, param)
        found.append({'$ref': '#/components/parameters/' + key})
    return found


def _filter_params(obj, mode):
    model = obj.model
    params = [oa.query_param('deleted', {'type': 'string'},
                             'absent: live rows; empty: all rows; a date: rows deleted then'),
              oa.query_param('deleted_operator', {'type': 'string', 'enum': _operators(
                  model.deleted)[:6]})]
    for name in ('created', 'updated'):
        params += _filter(name, getattr(model, name), DATETIME)
    if obj.has_id:
        params += _filter('_id', obj.fields['id'])
    for name, field in obj.filter_fields.items():
        params += _filter(name, field)
    if mode == 'get':
        params += [
            oa.query_param('recursion_depth', {'type': 'integer', 'minimum': 0, 'maximum': 1}),
            oa.query_param('recursion_limit', {'type': 'integer', 'minimum': 0,
                                               'maximum': filters.MAX_OFFSET}),
            oa.query_param('page_number', {'type': 'integer', 'minimum': 0,
                                           'maximum': filters.MAX_OFFSET}),
            oa.query_param('items_per_page', {'type': 'integer', 'minimum': 0,
                                              'maximum': filters.MAX_OFFSET})]
    if mode == 'delete':
        params += [oa.query_param(name, {'type': 'string'}) for name in filters.DELETE_SETTINGS]
    return params


def _json_body(schema, limit):
    return {'required': True, 'description': 'at most {} JSON values'.format(limit),
            'content': {media: {'schema': schema} for media in JSON_TYPES}}


def object_operations(obj, shared):
    """GET, HEAD, PUT, POST, DELETE on ``/<object>``."""
    ref = {'$ref': '#/components/schemas/{}'.format(obj.class_name)}
    ref_in = {'$ref': '#/components/schemas/{}Input'.format(obj.class_name)}
    written = oa.response('done: the body is null', NULL_BODY)
    get = {'operationId': 'get_' + obj.name, 'summary': 'rows of ' + obj.table,
           'tags': ['objects'], 'parameters': filter_params(obj, 'get', shared),
           'responses': {'200': oa.response('the matching rows', {'type': 'array',
                                                                  'items': ref}),
                         **oa.errors(400, 503)}}
    put = {'operationId': 'put_' + obj.name, 'summary': 'create rows of ' + obj.table,
           'tags': ['objects'],
           'requestBody': _json_body({'oneOf': [ref_in, {'type': 'array', 'items': ref_in}]},
                                     MAX_OBJECTS),
           'responses': {'200': dict(written), **oa.errors(*WRITE_ERRORS)}}
    if obj.has_id:
        # Stateful runs read back the row they created (PUT answers null, so the link
        # takes the id from the request).
        put['responses']['200']['links'] = {'ReadBack': {
            'operationId': 'get_' + obj.name, 'parameters': {'_id': '$request.body#/_id'}}}
    post = {'operationId': 'post_' + obj.name, 'summary': 'update the selected rows',
            'tags': ['objects'], 'parameters': filter_params(obj, 'update', shared),
            'requestBody': _json_body(ref_in, MAX_OBJECTS),
            'responses': {'200': written, **oa.errors(*WRITE_ERRORS,
                                                      e404='no row matched')}}
    delete = {'operationId': 'delete_' + obj.name,
              'summary': 'soft-delete (force: remove) the selected rows', 'tags': ['objects'],
              'parameters': filter_params(obj, 'delete', shared),
              'responses': {'200': written, **oa.errors(400, 404, 409, 503,
                                                        e404='no row matched')}}
    return {'get': get, 'head': oa.head_of(get), 'put': put, 'post': post, 'delete': delete}


# -- the query endpoints -------------------------------------------------------------------------
# The endpoints whose arguments are named inside the handler (the Get and Post resources of
# endpoints.base carry theirs as ``names``); the route test fails when one is missing here.
CUSTOM_ARGS = {
    '/transactioninfo/by_id': ('trans_id',),
    '/transactioninfo/files': ('transaction_id',),
    '/transactioninfo/last': (),
    '/transactioninfo/search': ('option',),
    '/transactioninfo/multisearch': ('project_id', 'instrument_group_id', 'start_time',
                                     'end_time'),
    '/transactioninfo/release_state': ('trans_id',),
    '/transactioninfo/summary': ('start_date', 'end_date'),
    '/summaryinfo/by_date': ('time_basis', 'object_type', 'start_date', 'end_date'),
    '/summaryinfo/transaction_details': (),
    '/objectinfo': ('object_class_name', 'operation'),
    '/doiupload/new_entry': (),
    '/doiupload/update': (),
    '/ingest': (),
}
# Endpoints that read more than the named arguments (filters of their own).
OPEN_QUERY = ('/transactioninfo/search', '/objectinfo')
ANSWERS = {
    '/transactioninfo/last': {'type': 'object', 'required': ['latest_transaction_id'],
                              'properties': {'latest_transaction_id': {'type': ['integer',
                                                                                'null']}}},
    '/ingest': {'type': 'object', 'required': ['status'],
                'properties': {'status': {'const': 'success'}}},
}
XML_BODY = ('/doiupload/update',)


def _names(path, resource):
    names = getattr(resource, 'names', None)
    if names is not None and path not in CUSTOM_ARGS:
        return tuple(names)
    return CUSTOM_ARGS[path]


def endpoint_operations(path, resource, methods):
    """The operations of one query endpoint (a resource of :mod:`.endpoints`)."""
    names = _names(path, resource)
    found = {}
    for method in sorted(methods):
        if method == 'HEAD':
            continue
        op = {'operationId': (method.lower() + path.replace('/', '_')), 'tags': ['queries'],
              'summary': '{} {}'.format(method, path),
              'description': 'Each argument may also be given as a path segment, in this '
                             'order: {}/{}'.format(path, '/'.join(
                                 '{' + n + '}' for n in names)) if names else '',
              'parameters': [oa.query_param(name, {'type': 'string', 'minLength': 1})
                             for name in names],
              'responses': {'200': oa.response('the answer', ANSWERS.get(path, ANY)),
                            **oa.errors(400, 404, 503)}}
        if path in OPEN_QUERY:
            op['description'] += ' Other query parameters are filters.'
        if method in ('POST', 'PUT'):
            limit = MAX_INGEST_OBJECTS if path == '/ingest' else MAX_OBJECTS
            if path in XML_BODY:
                op['requestBody'] = {'required': True, 'content': {
                    media: {'schema': {'type': 'string'}}
                    for media in ('application/xml', 'text/xml')}}
            else:
                op['requestBody'] = _json_body({}, limit)
            op['responses'].update(oa.errors(411, 413, 415))
        found[method.lower()] = op
        if method == 'GET':
            found['head'] = oa.head_of(op)
    return found


def describe(context):
    """The document of a started metadata service (its tree gives the query endpoints)."""
    from .rest import Root   # pylint: disable=import-outside-toplevel
    paths, schemas, shared = {}, {}, {}
    objects = {'/' + obj.name for obj in OBJECTS}
    for obj in OBJECTS:
        paths['/' + obj.name] = object_operations(obj, shared)
        schemas[obj.class_name] = object_schema(obj)
        schemas[obj.class_name + 'Input'] = input_schema(obj)
    # A tree of its own, built like the served one, to read the query endpoints' routes.
    root = Root(_NoNotifier(), context.config)
    for path, methods in sorted(oa.tree_routes(root).items()):
        if path == '/' or path in objects:
            continue
        paths[path] = endpoint_operations(path, resource_at(root, path), methods)
    return oa.document('Metadata', 'The 45 metadata objects (generic CRUD) and the query '
                       'endpoints.', paths, schemas, shared)


def resource_at(root, path):
    """The resource mounted at ``path``."""
    node = root
    for name in path.strip('/').split('/'):
        node = getattr(node, name)
    return node


class _NoNotifier:
    """Building a tree to read its routes sends no event."""

    def publish(self, _event):
        """Nothing to send."""

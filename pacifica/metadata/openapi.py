"""Metadata's OpenAPI description, generated from the object table (:mod:`.objects`), the
filter rules (:mod:`.queries.filters`), the value coercions (:mod:`.queries.coerce`) and the
mounted query endpoints (:mod:`.endpoints`), so it lists exactly what the service parses.
"""
from pacifica.common import openapi as oa

from .body import JSON_TYPES, MAX_OBJECTS
from .columns import DATETIME, field_schema
from .endpoints.declare import path_names
from .endpoints.misc import XML_TYPES
from .objects import OBJECTS
from .queries import filters
from .queries.coerce import is_temporal, is_text

NULL_BODY = {'type': 'null', 'description': 'the JSON literal null (upstream\'s answer)'}
WRITE_ERRORS = (400, 404, 409, 411, 413, 415, 503)
SHARED_PARAMS = frozenset(
    ('deleted', 'deleted_operator') + filters.GET_SETTINGS + filters.DELETE_SETTINGS +
    tuple(base + suffix for base in ('created', 'updated')
          for suffix in ('', '_operator', '_0', '_1')))


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
# Each resource of .endpoints declares its arguments, bodies and answers (endpoints.declare);
# the operations are made from those declarations only.
FILTERS = {'name': 'filters', 'in': 'query', 'style': 'form', 'explode': True,
           'description': 'every other query parameter is a filter of the object named, as on '
                          'GET /<object> (with hashlist: the parameters name the columns, and '
                          'those with a value also filter)',
           'schema': {'type': 'object', 'additionalProperties': {'type': 'string'}}}


def _request_body(resource, schema):
    config = getattr(resource, '_cp_config', {})
    if not config.get('tools.metadata_json_in.on', True):
        return {'required': True, 'content': {media: {'schema': schema}
                                              for media in XML_TYPES}}
    return _json_body(schema, config.get('tools.metadata_json_in.max_objects', MAX_OBJECTS))


def endpoint_operations(path, resource, methods):
    """The operations of one query endpoint (a resource of :mod:`.endpoints`), from its
    declarations; a method without a declared answer is an error (the route test fails)."""
    found = {}
    for method in sorted(methods):
        if method == 'HEAD':
            continue
        declared = resource.declared(method)
        names = path_names(declared)
        op = {'operationId': (method.lower() + path.replace('/', '_')), 'tags': ['queries'],
              'summary': '{} {}'.format(method, path),
              'description': 'Each argument may also be given as a path segment, in this '
                             'order: {}/{}'.format(path, '/'.join(
                                 '{' + n + '}' for n in names)) if names else '',
              'parameters': [arg.parameter() for arg in declared],
              'responses': {'200': oa.response('the answer', resource.answers[method]),
                            **oa.errors(400, 404, 503)}}
        if resource.filters:
            op['parameters'].append(FILTERS)
        if method in ('POST', 'PUT'):
            op['requestBody'] = _request_body(resource, resource.bodies[method])
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

"""``GET /api/openapi.json``: the OpenAPI 3.1 description of a service, built from its code.

Each service has a ``pacifica.<service>.openapi`` module whose ``describe(context)`` returns
the service's own paths and component schemas, made from the declarations its handlers
validate with (the metadata object table, cartd's validation constants, uniqueid's limits).
This module holds what every description shares: the JSON error page, the status root, the
operational endpoints, the document frame, and a walk of the mounted CherryPy tree that the
tests compare a document with, so a route cannot be answered without being described.

The document is built once per process, on the first request, and served as bytes.
"""
import importlib
import json
import threading

OPENAPI_PATH = '/api/openapi.json'
VERSION = '3.1.0'
METHODS = ('GET', 'HEAD', 'PUT', 'POST', 'PATCH', 'DELETE')

ERROR_REF = {'$ref': '#/components/schemas/Error'}
# The standard reason phrases of the statuses the services answer with.
REASONS = {200: 'OK', 201: 'Created', 202: 'Accepted', 204: 'No Content',
           206: 'Partial Content', 304: 'Not Modified', 400: 'Bad Request', 403: 'Forbidden',
           404: 'Not Found', 405: 'Method Not Allowed', 409: 'Conflict',
           411: 'Length Required', 412: 'Precondition Failed', 413: 'Payload Too Large',
           415: 'Unsupported Media Type', 416: 'Range Not Satisfiable',
           500: 'Internal Server Error', 502: 'Bad Gateway', 503: 'Service Unavailable',
           504: 'Gateway Timeout', 507: 'Insufficient Storage'}

ERROR_SCHEMA = {
    'type': 'object',
    'description': 'The JSON error page every service answers an error with. `traceback` is '
                   'empty unless the service runs with debug on.',
    'required': ['status', 'message', 'traceback', 'version'],
    'properties': {
        'status': {'type': 'string', 'description': 'the status line, e.g. "400 Bad Request"'},
        'message': {'type': 'string', 'description': 'what was wrong, in words'},
        'traceback': {'type': 'string'},
        'version': {'type': 'string', 'description': 'the CherryPy version'},
    },
}
MESSAGE_SCHEMA = {'type': 'object', 'required': ['message'],
                  'properties': {'message': {'type': 'string'}}}
RETRY_AFTER = {'description': 'seconds to wait before retrying', 'schema': {'type': 'string'}}


# -- building blocks -----------------------------------------------------------------------------
def header(description, schema=None, required=False):
    """One response header object."""
    found = {'description': description, 'schema': schema or {'type': 'string'}}
    if required:
        found['required'] = True
    return found


def json_content(schema):
    """``content`` for an ``application/json`` body."""
    return {'application/json': {'schema': schema}}


def response(description, schema=None, headers=None, media='application/json'):
    """A response object; ``schema`` None means no body."""
    found = {'description': description}
    if schema is not None:
        found['content'] = {media: {'schema': schema}}
    if headers:
        found['headers'] = dict(headers)
    return found


def error(status, description=None, headers=None):
    """The JSON error page with ``status``."""
    found = {'description': description or REASONS.get(status, 'Error'),
             'content': json_content(ERROR_REF)}
    extra = dict(headers or {})
    if status == 503:
        extra.setdefault('Retry-After', RETRY_AFTER)
    if extra:
        found['headers'] = extra
    return found


def errors(*statuses, **descriptions):
    """``{status: the error page}`` for several statuses (a reference to the shared response
    unless ``e404='...'`` names a reason of its own)."""
    found = {}
    for status in statuses:
        reason = descriptions.get('e{}'.format(status))
        found[str(status)] = error(status, reason) if reason else {
            '$ref': '#/components/responses/Error{}'.format(status)}
    return found


def head_of(operation):
    """The HEAD twin of a GET operation: the same parameters and statuses, no bodies."""
    twin = {key: value for key, value in operation.items() if key != 'responses'}
    twin['operationId'] = operation['operationId'] + '_head'
    twin['summary'] = 'headers of: ' + operation.get('summary', '')
    twin['responses'] = {
        status: {key: value for key, value in answer.items() if key != 'content'}
        for status, answer in operation['responses'].items()}
    return twin


def regex(compiled):
    """A Python regex of the form ``[...]{m,n}\\Z`` (used with ``match``) as a JSON Schema
    pattern (ECMA-262: anchored with ``^`` and ``$``)."""
    text = compiled.pattern
    if text.endswith('\\Z'):
        text = text[:-2]
    return '^(?:{})$'.format(text.lstrip('^'))


def query_param(name, schema, description='', required=False):
    """A query parameter (``explode`` keeps ``?a=1&a=2`` for arrays)."""
    found = {'name': name, 'in': 'query', 'schema': schema, 'required': required}
    if description:
        found['description'] = description
    return found


def path_param(name, schema, description=''):
    """A path parameter (always required)."""
    found = {'name': name, 'in': 'path', 'required': True, 'schema': schema}
    if description:
        found['description'] = description
    return found


def status_root(title, head=None):
    """``GET /`` and ``HEAD /``: the status message. ``head`` replaces HEAD's answers where
    ``HEAD /`` is not the status (cartd, the archive: the HEAD of a cart or file without
    its id, a 404 as upstream)."""
    get = {'operationId': 'status', 'summary': 'the status message',
           'responses': {'200': response('"Pacifica {} Up and Running"'.format(title), {
               'type': 'object', 'required': ['message'],
               'properties': {'message': {'const': 'Pacifica {} Up and Running'.format(title)}}})}}
    found = {'get': get, 'head': head_of(get)}
    if head is not None:
        found['head']['summary'] = 'HEAD of a resource without its id'
        found['head']['responses'] = head
    return found


def operational_paths():
    """``/api/ready``, ``/api/metrics`` and this document, on every service."""
    ready = {'operationId': 'ready', 'summary': 'readiness: every dependency answers',
             'responses': {
                 '200': response('ready', {'$ref': '#/components/schemas/Readiness'},
                                 {'Cache-Control': header('no-store')}),
                 '503': response('not ready (the failing checks are named)',
                                 {'$ref': '#/components/schemas/Readiness'},
                                 {'Cache-Control': header('no-store')})}}
    metrics = {'operationId': 'metrics', 'summary': 'Prometheus text exposition',
               'responses': {
                   '200': response('the scrape', {'type': 'string'},
                                   {'Cache-Control': header('no-store')},
                                   media='text/plain'),
                   '503': error(503, 'prometheus_client is not installed')}}
    document = {'operationId': 'openapi', 'summary': 'this document',
                'responses': {'200': response('the OpenAPI 3.1 description of the service',
                                              {'type': 'object'},
                                              {'Cache-Control': header('no-cache')})}}
    return {'/api/ready': {'get': ready, 'head': head_of(ready)},
            '/api/metrics': {'get': metrics, 'head': head_of(metrics)},
            OPENAPI_PATH: {'get': document, 'head': head_of(document)}}


def common_schemas():
    """The component schemas every document has."""
    check = {'type': 'object', 'required': ['name', 'ok', 'message'],
             'properties': {'name': {'type': 'string'}, 'ok': {'type': 'boolean'},
                            'message': {'type': 'string'}}}
    return {'Error': ERROR_SCHEMA, 'Message': MESSAGE_SCHEMA,
            'Readiness': {'type': 'object', 'required': ['ready', 'failing', 'checks'],
                          'properties': {'ready': {'type': 'boolean'},
                                         'failing': {'type': 'array',
                                                     'items': {'type': 'string'}},
                                         'checks': {'type': 'array', 'items': check}}}}


def document(title, description, paths, schemas=None, parameters=None, root_head=None):
    """The whole OpenAPI document of a service (``parameters``: shared parameter objects
    the operations refer to; ``root_head``: see :func:`status_root`)."""
    all_paths = {'/': status_root(title, root_head)}
    all_paths.update(paths)
    all_paths.update(operational_paths())
    components = common_schemas()
    components.update(schemas or {})
    return {'openapi': VERSION,
            'info': {'title': 'Pacifica {}'.format(title), 'version': _package_version(),
                     'description': description},
            'paths': all_paths,
            'components': {'schemas': components,
                           'responses': {'Error{}'.format(status): error(status)
                                         for status in sorted(REASONS) if status >= 400},
                           'parameters': dict(parameters or {})}}


def _package_version():
    try:
        from importlib.metadata import version  # pylint: disable=import-outside-toplevel
        return version('pacifica-core')
    except Exception:  # pylint: disable=broad-except
        return '0'


# -- the routes a mounted tree answers -----------------------------------------------------------
def tree_routes(root, prefix=''):
    """``{path: set(methods)}`` of every exposed resource under ``root`` (a MethodDispatcher
    tree), found by walking its attributes as CherryPy's dispatcher does."""
    found = {}
    seen = set()

    def walk(node, path):
        if id(node) in seen:
            # an alias (``by_user_id = by_id``) is a route of its own
            found[path or '/'] = _methods(node)
            return
        seen.add(id(node))
        methods = _methods(node)
        if methods or path == '':
            found[path or '/'] = methods
        for name in dir(node):
            if name.startswith('_') or name in METHODS:
                continue
            child = getattr(node, name, None)
            # resources are exposed instances; exposed functions are not used by any service
            if getattr(child, 'exposed', False) and not callable(child):
                walk(child, '{}/{}'.format(path, name))
        seen.discard(id(node))

    walk(root, prefix)
    return found


def _methods(node):
    return {method for method in METHODS if callable(getattr(node, method, None))}


# -- serving -------------------------------------------------------------------------------------
class _Cached:
    """The service's document as JSON bytes, built on first use."""

    def __init__(self, context):
        self.context = context
        self.body = None
        self.guard = threading.Lock()

    def get(self):
        """The bytes (built once)."""
        with self.guard:
            if self.body is None:
                module = importlib.import_module(
                    'pacifica.{}.openapi'.format(self.context.service.name))
                self.body = json.dumps(module.describe(self.context)).encode('utf-8')
            return self.body


def handler(context):
    """The handler of ``GET /api/openapi.json`` for a started service."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    cached = _Cached(context)

    def answer(**_params):
        request, response = cherrypy.serving.request, cherrypy.serving.response
        response.headers['Allow'] = 'GET, HEAD'
        if request.method not in ('GET', 'HEAD'):
            raise cherrypy.HTTPError(405, 'only GET and HEAD are allowed here')
        # The description changes only with the code and the config: revalidate, no more.
        response.headers['Cache-Control'] = 'no-cache'
        response.headers['Content-Type'] = 'application/json'
        return cached.get()
    return answer

"""Cartd's OpenAPI description, from the rules of :mod:`.validate` (the POST body, the uid,
the download name) and the statuses and headers :mod:`.rest` answers with."""
import hashlib

from pacifica.common import openapi as oa

from . import validate
from .states import CartStatus

_TEXT = {'type': 'string'}
# hashlib's digests: a hashsum has twice as many hex digits as its algorithm has bytes.
_DIGITS = sorted({hashlib.new(name).digest_size * 2
                  for name in validate.algorithms()})


def cart_body():
    """The POST body :func:`validate.cart_request` accepts."""
    item = {
        'type': 'object', 'required': ['id', 'path', 'hashtype', 'hashsum'],
        'properties': {
            'id': {'oneOf': [{'type': 'integer', 'minimum': 0},
                             {'type': 'string', 'pattern': oa.regex(validate.ARCHIVE_ID_RE),
                              'not': {'enum': ['.', '..']}}],
                   'description': 'the archive file id'},
            'path': {'type': 'string', 'minLength': 1, 'maxLength': validate.MAX_PATH_BYTES,
                     # no backslash, no control character; no ".." name, at most MAX_DEPTH
                     # names, each at most MAX_NAME_BYTES bytes (checked, not expressible)
                     'pattern': '^[^\\\\\\u0000-\\u001f\\u007f-\\u009f]+$',
                     'description': 'where the file goes in the cart: relative, no ".." '
                                    'component, at most {} names of at most {} bytes'.format(
                                        validate.MAX_DEPTH, validate.MAX_NAME_BYTES)},
            'hashtype': {'type': 'string', 'enum': validate.algorithms(),
                         'description': 'a hashlib algorithm (any case)'},
            'hashsum': {'type': 'string', 'pattern': '^[0-9A-Fa-f]+$',
                        'minLength': _DIGITS[0], 'maxLength': _DIGITS[-1],
                        'description': 'the hex digest: twice the algorithm\'s digest size'},
        }}
    return {'type': 'object', 'required': ['fileids'],
            'properties': {'fileids': {'type': 'array', 'items': item,
                                       'maxItems': validate.MAX_FILES,
                                       'description': 'no path twice, no path that is also '
                                                      'the directory of another'},
                           'bundle': {'type': 'boolean',
                                      'description': 'build the tar once the files are '
                                                     'staged (default [cartd] bundle_task)'}}}


def _uid():
    return oa.path_param('uid', {'type': 'string', 'pattern': oa.regex(validate.UID_RE),
                                 'not': {'enum': ['.', '..']}}, 'the cart uid')


def _message(text=None):
    return {'type': 'object', 'required': ['message'],
            'properties': {'message': {'const': text} if text else _TEXT}}


def _status_headers(status_schema):
    return {'X-Pacifica-Status': oa.header('the cart\'s state (bundling and waiting read '
                                           'as staging)', status_schema, required=True),
            'X-Pacifica-Message': oa.header('the error, when there is one', required=True)}


def cart_operations():
    """The four methods on ``/{uid}``."""
    states = [CartStatus.STAGING.value, CartStatus.READY.value, CartStatus.ERROR.value]
    progress = oa.header('"S/T files, B/A bytes" (", bundling" while the tar is built)',
                         required=True)
    post = {'operationId': 'create_cart', 'summary': 'create a cart and start staging it',
            'parameters': [_uid()],
            'requestBody': {'required': True,
                            'content': {'application/json': {'schema': cart_body()}}},
            'responses': {'201': oa.response('accepted', _message('Cart Processing has begun')),
                          **oa.errors(400, 413, 415, 500, 503)}}
    # Stateful runs read and delete the cart they created.
    post['responses']['201']['links'] = {
        'CartStatus': {'operationId': 'cart_status', 'parameters': {'uid': '$request.path.uid'}},
        'Download': {'operationId': 'download_cart', 'parameters': {'uid': '$request.path.uid'}},
        'DeleteCart': {'operationId': 'delete_cart', 'parameters': {'uid': '$request.path.uid'}}}
    head = {'operationId': 'cart_status', 'summary': 'the cart\'s status and progress',
            'parameters': [_uid()],
            'responses': {
                '204': oa.response('staging or ready', None, dict(
                    _status_headers({'type': 'string', 'enum': states[:2]}),
                    **{'X-Pacifica-Progress': progress})),
                '500': oa.response('the cart failed (X-Pacifica-Message says why)', None, dict(
                    _status_headers({'const': CartStatus.ERROR.value}),
                    **{'X-Pacifica-Progress': progress})),
                '404': oa.response('no cart with that uid', None, _status_headers(
                    {'const': CartStatus.ERROR.value})),
                **oa.errors(400, 503)}}
    tar = {'type': 'string', 'format': 'binary'}
    download = {'Content-Disposition': oa.header('attachment; filename="<filename>"',
                                                 required=True),
                'Content-Length': oa.header('the size of the tar', required=True)}
    get = {'operationId': 'download_cart', 'summary': 'the cart as a tar',
           'parameters': [_uid(), oa.query_param('filename', {
               'type': 'string', 'minLength': 1, 'maxLength': validate.MAX_NAME_BYTES,
               'pattern': '^[^/\\\\\\u0000-\\u001f\\u007f]+$', 'not': {'enum': ['.', '..']}},
               'the download\'s name; without one trailing .tar, the members\' top directory'),
               {'name': 'Range', 'in': 'header', 'required': False, 'schema': _TEXT,
                'description': 'one bytes= range (bundled carts only)'}],
           'responses': {
               '200': oa.response('the tar', tar, download, media='application/octet-stream'),
               '202': oa.response('not ready yet', _message(
                   'The cart is not ready for download.')),
               '206': oa.response('one range of a bundled cart', tar, dict(
                   download, **{'Content-Range': oa.header('bytes S-E/SIZE', required=True)}),
                   media='application/octet-stream'),
               '304': oa.response('not modified (bundled carts)', None),
               '416': oa.error(416, headers={'Content-Range': oa.header('bytes */SIZE')}),
               **oa.errors(400, 404, 409, 412, 503, e409='the cart failed')}}
    delete = {'operationId': 'delete_cart', 'summary': 'delete every cart with the uid',
              'parameters': [_uid()],
              'responses': {'200': oa.response('deleted', _message('Cart Deleted Successfully')),
                            **oa.errors(400, 404, 409, 500, 503, e409='a cart is in use')}}
    return {'post': post, 'head': head, 'get': get, 'delete': delete}


def describe(_context):
    """The document of a started cartd."""
    return oa.document('Cartd Interface', 'Collects archive files into carts and serves them '
                       'as tar files.', {'/{uid}': cart_operations()},
                       {'CartRequest': cart_body()},
                       root_head={'404': oa.response('no cart uid: nothing to report', None)})

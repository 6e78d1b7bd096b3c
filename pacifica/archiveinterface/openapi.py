"""The archive interface's OpenAPI description, from the id and range rules of
:mod:`.backend` and :mod:`.rest`."""
from pacifica.common import openapi as oa

from .backend import INTEGER_ID, SAFE_ID
from .rest import MAX_PATCH_BODY, MESSAGE, STATUS_HEADERS

_TEXT = {'type': 'string'}


def _id_param(use_id2filename):
    pattern = INTEGER_ID if use_id2filename else SAFE_ID
    schema = {'type': 'string', 'pattern': oa.regex(pattern)}
    if not use_id2filename:
        schema['not'] = {'enum': ['.', '..']}
    return oa.path_param('file_id', schema, 'the file id ([posix] use_id2filename: integers '
                                            'only, stored under a hashed directory tree)')


def _status_headers(found):
    """HEAD's headers, in upstream's spelling: 204 with values, 404 with placeholders."""
    headers = {name: oa.header('File Not Found' if not found else name, required=True)
               for name in STATUS_HEADERS}
    headers[MESSAGE] = oa.header('"File was found" / "File Not found" (three s: cartd reads '
                                 'this spelling)', required=True)
    headers['X-Pacifica-Message'] = oa.header('the same, spelled right', required=True)
    return headers


def _file_operations(use_id2filename):
    fid = _id_param(use_id2filename)
    bad = oa.errors(400, 403, 404, 500)
    get = {'operationId': 'read_file', 'summary': 'the bytes of a file',
           'parameters': [fid,
                          oa.query_param('byte_range', {'type': 'string',
                                                        'pattern': '^[0-9]{1,20}-[0-9]{1,20}$'},
                                         'START-FINISH, FINISH exclusive (upstream\'s way)'),
                          {'name': 'Range', 'in': 'header', 'required': False,
                           'schema': _TEXT, 'description': 'one bytes= range'}],
           'responses': {
               '200': oa.response('the file', {'type': 'string', 'format': 'binary'},
                                  {'Accept-Ranges': oa.header('bytes', required=True)},
                                  media='application/octet-stream'),
               '206': oa.response('one range', {'type': 'string', 'format': 'binary'},
                                  {'Content-Range': oa.header('bytes S-E/SIZE', required=True)},
                                  media='application/octet-stream'),
               '416': oa.error(416, headers={'Content-Range': oa.header('bytes */SIZE')}),
               **bad}}
    head = {'operationId': 'file_status', 'summary': 'the status headers cartd reads',
            'parameters': [fid],
            'responses': {'204': oa.response('the file is there', None, _status_headers(True)),
                          '404': oa.response('no such file', None, _status_headers(False)),
                          **oa.errors(400, 403, 500)}}
    put = {'operationId': 'store_file', 'summary': 'store the raw body as the file',
           'parameters': [fid, {'name': 'Last-Modified', 'in': 'header', 'required': False,
                                'schema': _TEXT,
                                'description': 'an RFC 1123 date or epoch seconds'}],
           'requestBody': {'required': True, 'content': {
               'application/octet-stream': {'schema': {'type': 'string',
                                                       'format': 'binary'}}}},
           'responses': {'201': oa.response('stored', {
               'type': 'object', 'required': ['message', 'total_bytes'],
               'properties': {'message': {'const': 'File added to archive'},
                              'total_bytes': {'type': 'integer', 'minimum': 0}}}),
                         **oa.errors(400, 403, 411, 413, 500, 507)}}
    post = {'operationId': 'stage_file', 'summary': 'stage the file (on POSIX: it exists)',
            'parameters': [fid],
            'responses': {'200': oa.response('staged', {
                'type': 'object', 'required': ['message', 'file'],
                'properties': {'message': {'const': 'File was staged'},
                               'file': _TEXT}}), **bad}}
    patch = {'operationId': 'move_file_in', 'summary': 'move a file from the staging root in',
             'parameters': [fid],
             'requestBody': {'required': True, 'content': {'application/json': {'schema': {
                 'type': 'object', 'required': ['path'],
                 'properties': {'path': {'type': 'string',
                                         'description': 'absolute, under [posix] '
                                                        'staging_root'}}}}},
                             'description': 'at most {} bytes'.format(MAX_PATCH_BODY)},
             'responses': {'200': oa.response('moved', {
                 'type': 'object', 'required': ['message'],
                 'properties': {'message': {'const': 'File Moved Successfully'}}}),
                           **oa.errors(400, 403, 404, 411, 413, 415, 500, 507)}}
    delete = {'operationId': 'delete_file', 'summary': 'remove the file',
              'parameters': [fid],
              'responses': {'200': oa.response('removed (an empty body, as upstream)', None),
                            **bad}}
    return {'get': get, 'head': head, 'put': put, 'post': post, 'patch': patch,
            'delete': delete}


def describe(context):
    """The document of a started archive interface."""
    return oa.document('Archive Interface', 'Stores files by id in a POSIX directory tree.',
                       {'/{file_id}': _file_operations(
                           context.config.get('posix', 'use_id2filename'))},
                       root_head={'404': oa.response('no file id: nothing to report', None)})

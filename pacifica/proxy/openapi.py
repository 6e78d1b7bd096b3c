"""The proxy's OpenAPI description, from the hash rules :mod:`.fetch` validates with."""
from pacifica.common import openapi as oa

from .fetch import HASH_HEX_LENGTHS

FILE_HEADERS = {
    'Content-Disposition': oa.header('attachment; filename="..." (and RFC 6266 filename*) '
                                     'naming the file from metadata', required=True),
    'ETag': oa.header('"<hashsum>"', required=True),
    'Content-Length': oa.header('the file size (0 with X-Accel-Redirect)',
                                {'type': 'string', 'pattern': '^[0-9]+$'}),
    'Accept-Ranges': oa.header('bytes (not sent with X-Accel-Redirect)'),
    'X-Accel-Redirect': oa.header('/archivei_accel/<file id>, when [nginx] accel is on'),
}


def files():
    """``GET /files/{hashtype}/{hashsum}``."""
    params = [
        oa.path_param('hashtype', {'type': 'string', 'enum': sorted(
            set(HASH_HEX_LENGTHS) | {name.upper() for name in HASH_HEX_LENGTHS})},
            'a hashlib algorithm (any case)'),
        oa.path_param('hashsum', {'type': 'string', 'pattern': '^[0-9A-Fa-f]+$',
                                  'minLength': min(HASH_HEX_LENGTHS.values()),
                                  'maxLength': max(HASH_HEX_LENGTHS.values())},
                      'the hex digest (as many digits as the algorithm makes)'),
        {'name': 'Range', 'in': 'header', 'required': False, 'schema': {'type': 'string'},
         'description': 'one bytes= range; others are ignored'},
    ]
    get = {'operationId': 'file_by_hash', 'summary': 'the bytes of the file with that hash',
           'parameters': params,
           'responses': {
               '200': oa.response('the file', {'type': 'string', 'format': 'binary'},
                                  FILE_HEADERS, media='application/octet-stream'),
               '206': oa.response('one range of the file', {'type': 'string',
                                                            'format': 'binary'},
                                  dict(FILE_HEADERS, **{'Content-Range': oa.header(
                                      'bytes START-END/SIZE', required=True)}),
                                  media='application/octet-stream'),
               **oa.errors(400, 404, e404='no file with that hash (in metadata or the archive)'),
               '416': oa.error(416, headers={'Content-Range': oa.header('bytes */SIZE')}),
               **oa.errors(502, 503, 504, e502='a peer answered badly or sizes differ',
                           e504='a peer answered too slowly')}}
    return {'get': get, 'head': oa.head_of(get)}


def describe(_context):
    """The document of a started proxy."""
    return oa.document('Proxy', 'Serves a file by its hash: looks it up in metadata and '
                       'streams it from the archive interface.',
                       {'/files/{hashtype}/{hashsum}': files()})

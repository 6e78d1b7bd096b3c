"""UniqueID's OpenAPI description, from the limits :mod:`.rest` validates with."""
from pacifica.common import openapi as oa

from .allocate import MAX_MODE_LENGTH

NO_STORE = {'Cache-Control': oa.header('no-store: every call must reach the service')}


def getid(max_range):
    """``GET /getid``: ``range`` within ``[1, max_range]``, ``mode`` a name."""
    params = [
        oa.query_param('range', {'type': 'integer', 'minimum': 1, 'maximum': max_range},
                       'how many ids to reserve ([getid] max_range is the most)', True),
        oa.query_param('mode', {'type': 'string', 'minLength': 1,
                                'maxLength': MAX_MODE_LENGTH, 'pattern': '^[^\\u0000]*$'},
                       'the counter to take them from (any name; a new one starts at 0)',
                       True),
    ]
    get = {'operationId': 'getid', 'summary': 'reserve a range of ids', 'parameters': params,
           'responses': {
               '200': oa.response('the first and the last id reserved', {
                   'type': 'object', 'required': ['startIndex', 'endIndex'],
                   'properties': {'startIndex': {'type': 'integer', 'minimum': 0},
                                  'endIndex': {'type': 'integer', 'minimum': 0}}}, NO_STORE),
               **oa.errors(400, 503)}}
    head = oa.head_of(get)
    head['description'] = 'Validates like GET and reserves nothing.'
    return {'get': get, 'head': head}


def describe(context):
    """The document of a started uniqueid."""
    return oa.document('UniqueID', 'Reserves ranges of unique ids, one counter per mode.',
                       {'/getid': getid(context.config.get('getid', 'max_range'))})

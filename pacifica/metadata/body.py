"""Reading JSON request bodies: the ``metadata_json_in`` CherryPy tool.

Like CherryPy's ``tools.json_in`` (the same 411/415/400 messages as upstream), with two
bounds a JSON body meets before any handler sees it:

* at most ``max_objects`` JSON objects (:data:`MAX_OBJECTS`, ingest
  :data:`MAX_INGEST_OBJECTS`): a parsed object costs 20-50 times its text, so an 8 MB body
  of tiny objects would otherwise cost half a gigabyte. The count is enforced while parsing,
  so an oversized document is refused (413) before it is built;
* every string (keys included) passes :func:`.queries.coerce.check_json`: no NUL, no
  unpaired surrogate reaches a handler or the database.
"""
import functools
import json

import cherrypy

from pacifica.common.errors import TooLarge

from .queries.coerce import check_json

JSON_TYPES = ['application/json', 'text/javascript']
MAX_OBJECTS = 100000
MAX_INGEST_OBJECTS = 1000000


class _TooMany(Exception):
    """Raised from inside the parser once the object count is over the limit."""


def _counting_hook(limit):
    count = 0

    def hook(pairs):
        nonlocal count
        count += 1
        if count > limit:
            raise _TooMany()
        return dict(pairs)
    return hook


def parse(text, max_objects=MAX_OBJECTS):
    """``json.loads`` with the object bound; ValueError/RecursionError for bad JSON."""
    if text.count('{') <= max_objects:
        document = json.loads(text)   # cannot hold more objects than braces: C speed
    else:
        try:
            document = json.loads(text, object_pairs_hook=_counting_hook(max_objects))
        except _TooMany:
            raise TooLarge('the JSON body holds more than {} objects; send it in smaller '
                           'parts'.format(max_objects)) from None
    # a NUL or a lone surrogate can only come from a \u escape (raw ones are invalid JSON
    # or invalid UTF-8), so a body without one needs no walk
    if '\\u' in text:
        check_json(document)
    return document


def _processor(entity, max_objects):
    if not entity.headers.get('Content-Length', ''):
        raise cherrypy.HTTPError(411, 'Client must specify Content-Length')
    raw = entity.fp.read()
    try:
        text = raw.decode('utf-8')
        del raw
        cherrypy.serving.request.json = parse(text, max_objects)
    except (ValueError, RecursionError):
        raise cherrypy.HTTPError(400, 'Invalid JSON document') from None


def json_in(max_objects=MAX_OBJECTS):
    """The tool's callable: install the JSON processor for this request."""
    request = cherrypy.serving.request
    if isinstance(request.handler, cherrypy.HTTPError):
        return   # no such method (405) or resource: say so, never judge the body first
    request.body.processors.clear()
    request.body.default_proc = cherrypy.HTTPError(
        415, 'Expected an entity of content type {}'.format(', '.join(JSON_TYPES)))
    for content_type in JSON_TYPES:
        request.body.processors[content_type] = functools.partial(
            _processor, max_objects=max_objects)


cherrypy.tools.metadata_json_in = cherrypy.Tool('before_request_body', json_in, priority=30)

"""Metadata's HTTP resources: ``/`` and one generic resource per object (spec 1, 4).

Each :class:`ObjectResource` only parses the request, calls one function of
:mod:`pacifica.metadata.queries`, publishes the returned event after the commit and shapes
the JSON. The same class serves all 45 objects; the object table says what differs.
"""
import logging

import cherrypy

from pacifica.common import rest
from pacifica.common.database import family_of

from . import body as _body  # noqa: F401  (registers tools.metadata_json_in)
from .endpoints import mount as mount_endpoints
from .events import Notifier
from .objects import OBJECTS
from .orm import DB
from .queries import filters, read, write
from .queries.coerce import check_request
from .stream import JsonArrayStream

LOGGER = logging.getLogger(__name__)
NULL_BODY = b'null'


def _params(func):
    """Hand the query string to ``func`` as one dict; extra path segments are a 404.

    The query string arrives as keyword arguments; it is handed over as one dict so a
    parameter named like an argument ("self") cannot collide with the signature. Errors are
    not translated here: the query layer raises ServiceErrors and the common handler
    answers them.
    """
    def wrapper(*args, **params):
        resource, vpath = args[0], args[1:]
        if vpath:
            raise rest.not_found()   # /users/10: upstream 500, spec 1.1 fix
        check_request((), params)
        return func(resource, params)
    wrapper.__name__ = func.__name__
    wrapper.__doc__ = func.__doc__
    return wrapper


class ObjectResource:
    """GET/HEAD/PUT/POST/DELETE on ``/<object>``."""

    exposed = True
    _cp_config = {'tools.metadata_json_in.on': True}

    def __init__(self, obj, notifier):
        self.obj = obj
        self.notifier = notifier

    def _query(self, params, mode):
        return filters.parse(self.obj, params, mode, family_of(DB.obj))

    def _written(self, event):
        self.notifier.publish(event)   # the transaction has committed by now
        cherrypy.response.headers['Content-Type'] = rest.JSON_TYPE
        return NULL_BODY

    def _answer(self, params):
        """The JSON bytes of a GET, or for more rows than one batch a :class:`JsonArrayStream`
        of them (the same bytes, read and sent batch by batch, without a Content-Length)."""
        query = self._query(params, 'get')
        rows = read.first_rows(self.obj, query)
        if len(rows) <= read.BATCH_ROWS:
            return rest.json_body(read.render(self.obj, query, rows))
        cherrypy.response.headers['Content-Type'] = rest.JSON_TYPE
        return JsonArrayStream(self.obj, query, '{} /{}'.format(
            cherrypy.request.method, self.obj.name))

    @_params
    def GET(self, params):  # pylint: disable=invalid-name
        """Matching rows as a JSON array (spec 4.2)."""
        body = self._answer(params)
        if not isinstance(body, bytes):
            cherrypy.response.stream = True
        return body

    @_params
    def HEAD(self, params):  # pylint: disable=invalid-name
        """GET without the body (the query still runs, as upstream)."""
        body = self._answer(params)
        if not isinstance(body, bytes):
            for _ in body:   # every batch is read, one at a time
                pass
        cherrypy.response.headers['Content-Type'] = rest.JSON_TYPE
        return b''

    @_params
    def PUT(self, params):  # pylint: disable=invalid-name
        """Create one object or a list of them (spec 4.3)."""
        if params:
            LOGGER.debug('PUT %s ignores parameters %s', self.obj.name, sorted(params))
        return self._written(write.create(self.obj, cherrypy.request.json))

    @_params
    def POST(self, params):  # pylint: disable=invalid-name
        """Update the rows the query selects (spec 4.4)."""
        query = self._query(params, 'update')
        return self._written(write.update(self.obj, query, cherrypy.request.json))

    @_params
    def DELETE(self, params):  # pylint: disable=invalid-name
        """Soft-delete, or with ``force`` remove, the rows the query selects (spec 4.5)."""
        return self._written(write.delete(self.obj, self._query(params, 'delete')))


class Root(rest.StatusRoot):
    """``/``, the 45 object endpoints and the query endpoints of :mod:`.endpoints`."""

    title = 'Metadata'

    def __init__(self, notifier, config=None):
        for obj in OBJECTS:
            setattr(self, obj.name, ObjectResource(obj, notifier))
        mount_endpoints(self, notifier, config)   # the query endpoints and /ingest


def make_root(context):
    """The resource tree, with events configured from the loaded config."""
    return Root(Notifier(context.config), context.config)

"""What every query endpoint shares: path segments and their query-parameter aliases,
errors with the spec's reason phrases, and JSON responses (spec 0).

A resource declares its arguments once (``args``, :class:`.declare.Arg`) and reads them
through that declaration (:meth:`Leaf.read`): each comes from its path segment or, when the
path stops short, from the query parameter of the same name. Other query parameters are
ignored, because pacifica-policy forwards its own query string to these endpoints; extra
path segments are a 404 (upstream: a 500 TypeError). The OpenAPI description is made from
the same declarations (``args``, ``bodies``, ``answers``).
"""
import functools

import cherrypy

from pacifica.common import rest

from ..queries.coerce import check_request
from .declare import path_names


def args(vpath, params, *names):
    """The named arguments from path segments, else same-named query parameters; None when
    absent. More segments than names is a 404."""
    segments = [seg for seg in vpath if seg != '']
    if len(segments) > len(names):
        raise rest.not_found('Unexpected path segments: {}'.format(
            '/'.join(segments[len(names):])))
    found = {}
    for position, name in enumerate(names):
        if position < len(segments):
            found[name] = segments[position]
        else:
            found[name] = rest.single(name, params.get(name))
    return found


def endpoint(func):
    """Wrap a handler: path segments as a list, the query string as a dict, JSON out.

    Every path segment and parameter passes the one text check first. The query layer's
    errors are ServiceErrors (with upstream's reason phrases where the
    contract has them); the common error handler answers them.
    """
    @functools.wraps(func)
    def wrapper(self, *vpath, **params):
        check_request(vpath, params)
        return rest.json_body(func(self, list(vpath), params))
    return wrapper


class Container:
    """A path prefix with children and no handler of its own: every method is a 405, and so
    is an unknown child name (spec 0.1)."""

    exposed = True
    _cp_config = {'tools.metadata_json_in.on': True}


class Leaf:
    """An endpoint resource; JSON bodies are read like the generic endpoints read them.

    ``args``: the declared arguments (:class:`.declare.Arg`), the only ones a handler reads
    (a tuple, or a dict by HTTP method);
    ``bodies`` and ``answers``: per HTTP method, the JSON Schema of the request body and of
    the 200 answer; ``filters``: the endpoint reads the rest of the query string as filters
    of its own (described as free-form parameters).
    """

    exposed = True
    _cp_config = {'tools.metadata_json_in.on': True}
    args = ()
    bodies = {}
    answers = {}
    filters = False

    def declared(self, method):
        """The arguments ``method`` reads (``args`` is one tuple for every method, or a dict
        by method)."""
        if isinstance(self.args, dict):
            return self.args.get(method, ())
        return self.args

    def read(self, vpath, params, method='GET'):
        """``{name: value or None}`` of every argument ``method`` declares (path-capable
        arguments from the path segments first; query-only ones from the query string)."""
        declared = self.declared(method)
        found = args(vpath, params, *path_names(declared))
        for arg in declared:
            if arg.query_only:
                found[arg.name] = rest.single(arg.name, params.get(arg.name))
        return found


def body():
    """The request's JSON body (the json_in tool parsed it)."""
    return getattr(cherrypy.request, 'json', None)


class Get(Leaf):
    """A GET endpoint calling ``func`` with its declared arguments as keyword arguments."""

    def __init__(self, func, *declared, answer):
        self.call = func
        self.args = declared
        self.answers = {'GET': answer}

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Call the query with the declared arguments."""
        return self.call(**self.read(vpath, params))


class Post(Leaf):
    """A POST endpoint calling ``func(*declared arguments, json_body)``."""

    def __init__(self, func, *declared, body, answer):  # pylint: disable=redefined-outer-name
        self.call = func
        self.args = declared
        self.bodies = {'POST': body}
        self.answers = {'POST': answer}

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Call the query with the declared arguments and the JSON body."""
        return self.call(*self.read(vpath, params, 'POST').values(), body())

"""What every query endpoint shares: path segments and their query-parameter aliases,
errors with the spec's reason phrases, and JSON responses (spec 0).

A handler names its arguments once (``args(vpath, params, 'person_id', 'option')``): each
comes from its path segment or, when the path stops short, from the query parameter of the
same name. Other query parameters are ignored, because pacifica-policy forwards its own query
string to these endpoints; extra path segments are a 404 (upstream: a 500 TypeError).
"""
import functools

import cherrypy

from pacifica.common import rest

from ..queries.coerce import check_request


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
    """An endpoint resource; JSON bodies are read like the generic endpoints read them."""

    exposed = True
    _cp_config = {'tools.metadata_json_in.on': True}


def body():
    """The request's JSON body (the json_in tool parsed it)."""
    return getattr(cherrypy.request, 'json', None)


class Get(Leaf):
    """A GET endpoint calling ``func`` with its named path arguments (or same-named query
    parameters) as keyword arguments."""

    def __init__(self, func, *names):
        self.call = func
        self.names = names

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Call the query with the named arguments."""
        return self.call(**args(vpath, params, *self.names))


class Post(Leaf):
    """A POST endpoint calling ``func(*path arguments, json_body)``."""

    def __init__(self, func, *names):
        self.call = func
        self.names = names

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Call the query with the named arguments and the JSON body."""
        return self.call(*args(vpath, params, *self.names).values(), body())

"""CherryPy plumbing every service shares: JSON errors, parameter checks, the status root and
the application builder.

Errors keep the upstream JSON shape ``{"status", "message", "traceback", "version"}``; the
traceback is empty unless the service runs with debug on (it is always logged server-side).
"""
import html
import json
import logging

import cherrypy

from . import errors
from .config import parse_decimal_int

LOGGER = logging.getLogger(__name__)

JSON_TYPE = 'application/json'

# A database bigint: IDs, counters and sizes must fit in it.
MAX_BIGINT = 2 ** 63 - 1


def error_page(status, message, traceback, version):
    """The JSON error body (CherryPy ``error_page.default``)."""
    cherrypy.response.headers['Content-Type'] = JSON_TYPE
    # CherryPy HTML-escapes these before handing them over; JSON needs the real text.
    return json.dumps({
        'status': status,
        'message': html.unescape(message or ''),
        'traceback': html.unescape(traceback or '') if cherrypy.request.show_tracebacks else '',
        'version': version,
    })


def json_body(obj):
    """Serialise a response body (Python's default separators, as upstream)."""
    cherrypy.response.headers['Content-Type'] = JSON_TYPE
    if isinstance(obj, bytes):   # already rendered (json.dumps never gives bytes)
        return obj
    return json.dumps(obj).encode('utf-8')


def bad_request(message):
    """A 400 whose JSON ``message`` says what was wrong (raise it)."""
    return errors.BadRequest(message)


def not_found(message='Nothing matches the given URI'):
    """A 404 with a JSON message (raise it)."""
    return errors.NotFound(message)


# -- query parameter validation ----------------------------------------------------------
def single(name, value):
    """Reject a repeated query parameter (CherryPy hands those over as a list)."""
    if isinstance(value, list):
        raise bad_request('parameter {!r} was given {} times; give it once'.format(
            name, len(value)))
    return value


def required(name, value):
    """Reject a missing parameter."""
    if value is None:
        raise bad_request('parameter {!r} is required'.format(name))
    return single(name, value)


def int_param(name, value, minimum=None, maximum=MAX_BIGINT, default=None):
    """Parse an integer query parameter within ``[minimum, maximum]``.

    Accepts what Python's ``int()`` accepts for decimal text (surrounding spaces, a sign),
    as upstream did, and nothing else: no floats, no underscores, no other digits.
    """
    if value is None:
        if default is not None:
            return default
        raise bad_request('parameter {!r} is required'.format(name))
    value = single(name, value)
    try:
        number = parse_decimal_int(value)
    except ValueError:
        raise bad_request('parameter {!r} must be an integer, got {!r}'.format(
            name, _clip(value))) from None
    if minimum is not None and number < minimum:
        raise bad_request('parameter {!r} must be at least {}, got {}'.format(
            name, minimum, number))
    if maximum is not None and number > maximum:
        raise bad_request('parameter {!r} must be at most {}, got {}'.format(
            name, maximum, number))
    return number


def str_param(name, value, max_length=255, allow_empty=False):
    """A required string parameter no longer than ``max_length`` characters."""
    value = required(name, value)
    if not value and not allow_empty:
        raise bad_request('parameter {!r} must not be empty'.format(name))
    if len(value) > max_length:
        raise bad_request('parameter {!r} is {} characters long; the limit is {}'.format(
            name, len(value), max_length))
    return value


def _clip(value, limit=64):
    return value if len(value) <= limit else value[:limit] + '...'


# -- resources and the app ----------------------------------------------------------------
class StatusRoot:
    """``GET /`` → ``{"message": "Pacifica <Title> Up and Running"}``.

    Services hang their resources on an instance of a subclass. Query parameters on ``/``
    give CherryPy's 404 ``Unexpected query string parameters``, as upstream.
    """

    exposed = True
    title = 'Service'

    def GET(self):  # pylint: disable=invalid-name
        """The status message."""
        return json_body({'message': 'Pacifica {} Up and Running'.format(self.title)})


def app_config(debug=False, db_tool=None):
    """The CherryPy config for a service's ``/``: routing, JSON errors, no leaked tracebacks."""
    # Handlers return JSON bytes and set their Content-Type (json_body), and so does the
    # error page, so no per-request header or encoding tool is needed.
    conf = {
        'request.dispatch': cherrypy.dispatch.MethodDispatcher(),
        'request.show_tracebacks': bool(debug),
        'error_page.default': error_page,
        'request.error_response': errors.handle_error,
        'tools.log_tracebacks.on': False,
        'hooks.before_finalize': errors.strip_padding,
        'hooks.after_error_response': errors.strip_padding,
    }
    if db_tool:
        conf['tools.{}.on'.format(db_tool)] = True
    return {'/': conf}


def build_app(root, cpconfig=None, debug=False, db_tool=None):
    """Mount ``root`` at ``/`` as a new CherryPy application and return it.

    The service's own settings come first; the cpconfig file (its ``[/...]`` sections) may
    add to them, as the documented ``server.conf`` files do.
    """
    app = cherrypy.Application(root, '', app_config(debug, db_tool))
    if cpconfig:
        app.merge(cpconfig)
    # Whatever the cpconfig says, errors stay JSON and tracebacks stay out of the body.
    app.config['/']['error_page.default'] = error_page
    app.config['/']['request.error_response'] = errors.handle_error
    app.config['/']['tools.log_tracebacks.on'] = False
    app.config['/']['hooks.before_finalize'] = errors.strip_padding
    app.config['/']['hooks.after_error_response'] = errors.strip_padding
    app.config['/']['request.show_tracebacks'] = bool(debug)
    cherrypy.tree.mount(app, '')
    return app

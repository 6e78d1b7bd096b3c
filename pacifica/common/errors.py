"""One exception → HTTP map for every service.

Domain code raises a :class:`ServiceError` (or a subclass) that carries its HTTP status; it
never builds a ``cherrypy.HTTPError`` by hand. One CherryPy ``request.error_response``
(:func:`handle_error`, installed by :func:`pacifica.common.rest.build_app`) turns whatever
escaped a handler into the JSON error page:

* a :class:`ServiceError` → its status, reason phrase, message and headers;
* a database that is down, locked or dropped the connection → ``503`` with ``Retry-After``;
* anything else → the generic ``500`` (logged with its traceback, never shown to the client
  unless the service runs with ``PACIFICA_DEBUG``).

This module imports neither peewee nor a service: the proxy and the archive interface run
without a database, so the database errors are recognised only when peewee is loaded.
"""
import logging
import sys

from . import metrics

LOGGER = logging.getLogger(__name__)

# Seconds a client is asked to wait before retrying a 503.
RETRY_AFTER = 5


class ServiceError(Exception):
    """A failure the client should hear about, with the HTTP status that says so.

    ``reason`` overrides the standard reason phrase (metadata's query endpoints answer with
    upstream's own phrases); ``headers`` are added to the error response.
    """

    status = 500
    reason = None

    def __init__(self, message, status=None, reason=None, headers=None):
        super().__init__(message)
        if status is not None:
            self.status = int(status)
        if reason is not None:
            self.reason = reason
        self.headers = dict(headers or {})

    @property
    def message(self):
        """The text the client sees as the JSON ``message``."""
        return str(self)


class BadRequest(ServiceError):
    """400: the request itself is wrong; the message names what."""

    status = 400


class NotFound(ServiceError):
    """404: nothing matches."""

    status = 404


class Conflict(ServiceError):
    """409: the request clashes with the state of the thing it names."""

    status = 409


class BodyTimeout(TimeoutError):
    """The request body stopped arriving for ``body_timeout`` seconds (raised by the body
    reader of :mod:`pacifica.common.httpserver`). A ``TimeoutError`` still, so code that
    reads a body and handles OSError keeps doing so; if it escapes a handler, it is a 408."""


class TooLarge(ServiceError):
    """413: the request body (or one part of it) is over a documented limit."""

    status = 413


class Unavailable(ServiceError):
    """503: a dependency (database, broker, peer) is down; worth retrying later."""

    status = 503

    def __init__(self, message, retry_after=RETRY_AFTER, **kwargs):
        super().__init__(message, **kwargs)
        self.headers.setdefault('Retry-After', str(int(retry_after)))


def database_errors():
    """The peewee errors that mean "the database is unavailable", if peewee is loaded."""
    peewee = sys.modules.get('peewee')
    if peewee is None:
        return ()
    return (peewee.OperationalError, peewee.InterfaceError)


def as_service_error(exc):
    """The :class:`ServiceError` that ``exc`` stands for, or None for an unexpected error."""
    if isinstance(exc, ServiceError):
        return exc
    if isinstance(exc, BodyTimeout):
        return ServiceError(str(exc), status=408)
    transient = database_errors()
    if transient and isinstance(exc, transient):
        # The driver's text can name hosts, users or files: log it, never send it.
        LOGGER.warning('database unavailable: %s: %s', type(exc).__name__, exc)
        metrics.inc('pacifica_database_errors_total', error=type(exc).__name__)
        return Unavailable('the database is unavailable; try again later')
    return None


def set_error_response(exc):
    """Make the current CherryPy response the JSON error page for a :class:`ServiceError`."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    response = cherrypy.serving.response
    # A handler may have named a download for the answer it did not get to give: an error
    # document must never be saved under the file's name (curl -OJ, browsers).
    response.headers.pop('Content-Disposition', None)
    status = exc.status if exc.reason is None else '{} {}'.format(exc.status, exc.reason)
    cherrypy.HTTPError(status, exc.message).set_response()
    # set_response cleans entity headers (Retry-After among them): ours go on afterwards.
    for name, value in exc.headers.items():
        response.headers[name] = value


def strip_padding():
    """Undo CherryPy's padding of short error pages to 512 bytes (for Internet Explorer 5's
    "friendly" error pages): a JSON error body ends at its closing brace.

    Runs as the ``before_finalize`` and ``after_error_response`` hooks, the two ways an error
    page reaches the client.
    """
    import cherrypy  # pylint: disable=import-outside-toplevel
    response = cherrypy.serving.response
    if not str(response.status or '200').startswith(('4', '5')):
        return
    if not str(response.headers.get('Content-Type', '')).startswith('application/json'):
        return
    body = response.collapse_body()
    trimmed = body.rstrip(b' ')
    if len(trimmed) != len(body):
        response.body = trimmed
        response.headers['Content-Length'] = str(len(trimmed))


def handle_error():
    """CherryPy ``request.error_response``: the one place an escaped exception is answered.

    CherryPy's ``tools.log_tracebacks`` is off in our apps (it would log a traceback for every
    400); the unexpected errors are logged here instead.
    """
    import cherrypy  # pylint: disable=import-outside-toplevel
    exc = sys.exc_info()[1]
    known = as_service_error(exc) if exc is not None else None
    if known is None:
        cherrypy.log(traceback=True, severity=logging.ERROR)
        cherrypy.serving.response.headers.pop('Content-Disposition', None)
        cherrypy.HTTPError(500).set_response()
        return
    set_error_response(known)

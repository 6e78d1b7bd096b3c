"""A WSGI fast path for the one hot request, ``GET /getid?range=N&mode=M``.

CherryPy's request machinery (dispatch, tools, hooks, header maps) costs several hundred
microseconds per request, more than the allocation itself. In front of the CherryPy
application this answers exactly the plain, valid case of ``GET /getid`` with the bytes
CherryPy would send (status, headers in CherryPy's order, JSON body, access-log line,
request metrics); everything else goes to CherryPy unchanged: other paths and methods,
HEAD, a body, any query string that is not simply ``range=<digits>&mode=<plain text>``
(either order), a range above ``max_range``. When the allocation itself fails (an
exhausted mode, a database outage) the error is handed to the CherryPy handler, which
raises it there, so the error page is CherryPy's own and nothing is allocated twice.

The path is installed only when the app's configuration is one it knows: a cpconfig that
turns on other tools or hooks, adds response headers or sections below ``/`` (an
operator's auth tool, say) leaves every request to CherryPy.
"""
import datetime
import email.utils
import logging
import re
import time

import cherrypy
from cherrypy import _cplogging

from pacifica.common import metrics

from .allocate import allocate
from .orm import DB

# Set on the WSGI environ when the fast path's allocation failed: the CherryPy handler
# raises this exception instead of allocating again.
FAILED_KEY = 'pacifica.uniqueid.failed'

# Only characters that CherryPy's query-string parsing leaves as they are (no %, +, ;, &, =),
# so both paths see the same mode; anything else is left to CherryPy.
_MODE = r'[A-Za-z0-9._~-]{1,255}'
_RANGE = r'[1-9][0-9]{0,18}'
_QUERY = re.compile(r'(?:range=(?P<r1>{r})&mode=(?P<m1>{m})|mode=(?P<m2>{m})&range=(?P<r2>{r}))\Z'
                    .format(r=_RANGE, m=_MODE))

# The app settings the fast path reproduces (the rest of build_app's and operations'
# settings are about errors and other paths, which CherryPy keeps answering).
_KNOWN_ROOT_KEYS = frozenset((
    'request.dispatch', 'request.show_tracebacks', 'error_page.default',
    'request.error_response', 'tools.log_tracebacks.on', 'hooks.before_finalize',
    'hooks.after_error_response', 'hooks.on_start_resource',
    'tools.response_headers.on', 'tools.response_headers.headers'))
_JSON_HEADER = [('Content-Type', 'application/json')]
# CherryPy's own global defaults, which change nothing in a 200 from /getid (trailing_slash
# acts on other paths, encode leaves a bytes body alone, log_tracebacks and log_headers act
# on errors). log_headers is on unless an environment turns it off: under pacifica-uniqueid,
# which sets none, leaving it out of this list kept every request off the fast path.
_DEFAULT_GLOBAL_TOOLS = frozenset(('tools.trailing_slash.on', 'tools.encode.on',
                                   'tools.log_tracebacks.on', 'tools.log_headers.on'))


def eligible(app, db_tool=None):
    """Whether ``app``'s configuration is one the fast path answers exactly like CherryPy."""
    sections = {path for path in app.config if path.startswith('/')}
    if sections - {'/'}:
        return False
    root = app.config.get('/', {})
    known = _KNOWN_ROOT_KEYS | ({'tools.{}.on'.format(db_tool)} if db_tool else set())
    if set(root) - known:
        return False
    if root.get('tools.response_headers.on') and \
            list(root.get('tools.response_headers.headers') or ()) != _JSON_HEADER:
        return False
    for key, value in cherrypy.config.items():
        if key.startswith('response.headers.') or key.startswith('hooks.') or (
                key.startswith('tools.') and key.endswith('.on') and value and
                key not in _DEFAULT_GLOBAL_TOOLS):
            return False
        if key == 'request.query_string_encoding' and value.lower() not in ('utf8', 'utf-8'):
            return False
    return True


def _escape(value):
    """CherryPy's escaping of an access-log field (repr of the UTF-8 bytes, quotes escaped).
    Printable ASCII without quotes or backslashes, what nearly every field holds, is its own
    escape: returned as it is, without the round trip through bytes."""
    if value.isascii() and value.isprintable() and not _NEEDS_ESCAPE.search(value):
        return value
    value = repr(value.replace('"', '\\"').encode('utf8'))[2:-1]
    return value.replace('\\\\', '\\')


_NEEDS_ESCAPE = re.compile('[\'"\\\\]')
_MONTHS = ('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec')


def _log_time(second):
    """CherryPy's ``LogManager.time()`` (local time, Apache's format) of a whole second."""
    now = datetime.datetime.fromtimestamp(second)
    return '[%02d/%s/%04d:%02d:%02d:%02d]' % (now.day, _MONTHS[now.month - 1], now.year,
                                              now.hour, now.minute, now.second)


def _listening(logger):
    """Whether an INFO record of ``logger`` reaches a handler that does something: CherryPy
    gives every access log a NullHandler, so under uWSGI (no screen, no file) ``hasHandlers()``
    is true and each line was formatted for nothing."""
    if not logger.isEnabledFor(logging.INFO):
        return False
    while logger is not None:
        for handler in logger.handlers:
            if not isinstance(handler, _NULL_HANDLERS):
                return True
        if not logger.propagate:
            return False
        logger = logger.parent
    return False


_NULL_HANDLERS = (logging.NullHandler, _cplogging.NullHandler)


class FastGetID:
    """WSGI middleware around a CherryPy app's ``wsgiapp`` (see the module's docstring)."""

    def __init__(self, inner, app, max_range):
        self.inner = inner
        self.app = app
        self.max_range = max_range
        self.server = 'CherryPy/' + cherrypy.__version__
        self._date = (0, '')
        self._log_second = (0, '')
        self._series = None

    def _http_date(self, now):
        second = int(now)
        if self._date[0] != second:    # formatdate costs more than the rest of the headers
            self._date = (second, email.utils.formatdate(second, usegmt=True))
        return self._date[1]

    def _params(self, environ):
        if environ.get('PATH_INFO') != '/getid' or environ.get('REQUEST_METHOD') != 'GET' \
                or environ.get('SCRIPT_NAME'):
            return None
        if environ.get('CONTENT_LENGTH') not in (None, '', '0') or \
                'HTTP_TRANSFER_ENCODING' in environ:
            return None
        match = _QUERY.match(environ.get('QUERY_STRING', ''))
        if match is None:
            return None
        count = int(match.group('r1') or match.group('r2'))
        if count > self.max_range:
            return None
        return count, match.group('m1') or match.group('m2')

    def __call__(self, environ, start_response):
        params = self._params(environ)
        if params is None:
            return self.inner(environ, start_response)
        started = time.monotonic()
        try:
            first, last = allocate(params[1], params[0])
        except Exception as exc:  # pylint: disable=broad-except
            environ[FAILED_KEY] = exc     # CherryPy's handler raises it: its own error page
            return self.inner(environ, start_response)
        finally:
            # What the request's database tool does when a CherryPy request ends.
            if not DB.is_closed():
                if DB.in_transaction():
                    DB.rollback()
                DB.close()
        body = '{{"startIndex": {}, "endIndex": {}}}'.format(first, last).encode('ascii')
        length = str(len(body))
        start_response('200 OK', [
            ('Content-Type', 'application/json'), ('Server', self.server),
            ('Date', self._http_date(time.time())), ('Allow', 'GET, HEAD'),
            ('Cache-Control', 'no-store'), ('Content-Length', length)])
        self._access_log(environ, length)
        self._record(time.monotonic() - started)
        return [body]

    def _record(self, seconds):
        """``metrics.record_request('/getid', 'GET', 200, seconds)``, with the two series
        looked up once (the lookup, label checks and bounding cost more than the counting)."""
        series = self._series
        if series is None:
            labels = {'route': '/getid', 'method': 'GET'}
            series = self._series = (
                metrics.series('pacifica_http_requests_total', status='200', **labels),
                metrics.series('pacifica_http_request_duration_seconds', **labels))
        if series[0] is not None:
            series[0].inc()
            series[1].observe(seconds)

    def _access_time(self):
        """The access log's time field, formatted once a second."""
        second = int(time.time())
        if self._log_second[0] != second:
            self._log_second = (second, _log_time(second))
        return self._log_second[1]

    def _access_log(self, environ, length):
        """The line CherryPy's access log would write (only when something listens)."""
        log = self.app.log
        if not _listening(log.access_log):
            return
        atoms = {
            'h': environ.get('REMOTE_HOST') or environ.get('REMOTE_ADDR', ''), 'l': '-',
            'u': environ.get('LOGON_USER') or environ.get('REMOTE_USER') or '-',
            't': self._access_time(),
            'r': 'GET /getid?{} {}'.format(environ['QUERY_STRING'],
                                          environ.get('SERVER_PROTOCOL')),
            's': '200', 'b': length, 'f': environ.get('HTTP_REFERER', ''),
            'a': environ.get('HTTP_USER_AGENT', ''), 'o': environ.get('HTTP_HOST', '-'),
            'i': '-', 'z': '-'}
        log.access_log.log(logging.INFO, log.access_log_format.format(
            **{key: _escape(value) for key, value in atoms.items()}))


def install(app, context):
    """Put the fast path in front of ``app`` (a built UniqueID app) when it is eligible."""
    max_range = context.config.get('getid', 'max_range')
    tool = context.service.name + '_db' if context.database is not None else None
    if eligible(app, tool):
        app.wsgiapp = FastGetID(app.wsgiapp, app, max_range)
    return app

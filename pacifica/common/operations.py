"""The operational endpoints every service answers: ``GET /api/ready`` and ``GET /api/metrics``.

They live under the reserved two-segment ``/api/`` namespace. A service's own routing never
sees exactly these paths: :class:`OperationsDispatcher` answers them before the service's
dispatcher runs, and hands every other path (``/api``, ``/api/other``, ``/api/ready/``) to
the service unchanged. That matters for the services whose first path segment is a name the
client chooses: a cart uid ``api`` (``POST /api``) stays a cart, and an archive file id ``api``
stays a file, but ``GET /api/ready`` on the archive interface (which upstream answered with
the bytes of file ``api``, ignoring the second segment) is now the readiness answer.

Readiness runs each of the service's checks (:class:`Check`) on a thread of its own and waits
at most ``READY_TIMEOUT`` seconds in all, so the answer comes in time even when a peer hangs.
A check that is still running from an earlier request is waited for, never started twice, so
a hanging peer cannot pile up threads.
"""
import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Dict, Iterable, Optional, Sequence, Tuple
from urllib.parse import urlsplit

from . import metrics

LOGGER = logging.getLogger(__name__)

READY_PATH = '/api/ready'
METRICS_PATH = '/api/metrics'
# Seconds /api/ready waits for all of its checks together.
READY_TIMEOUT = 1.5


@dataclass
class Check:
    """One readiness check: ``probe()`` returns a short note (or None) when the dependency
    works and raises when it does not; the exception's text is the reason shown."""

    name: str
    probe: Callable[[], Optional[str]]


@dataclass
class Probes:
    """What a service adds to the shared operational endpoints.

    ``checks(context)``: its readiness checks besides the database (which every service with
    a database gets); ``gauges(context)``: ``(metric name, labels, value)`` read at each
    scrape (values that live in the database, such as carts by state, are right whichever
    process answers the scrape).
    """

    checks: Optional[Callable[[Any], Sequence[Check]]] = None
    gauges: Optional[Callable[[Any], Iterable[Tuple[str, Dict[str, str], float]]]] = None


class CheckFailed(Exception):
    """A probe's way of saying what is wrong in words meant for the operator."""


# -- the checks the services share ---------------------------------------------------------------
def database_check(context):
    """The database answers and its schema is one this code can use."""
    def probe():
        db = context.database
        with db.connection_context():
            schema = context.service.schema(db) if context.service.schema else None
            if schema is None:
                db.execute_sql('SELECT 1')
                return None
            found = schema.version_or_zero()
            if not schema.is_safe():
                raise CheckFailed('schema {}.{}, code {}.{}: run pacifica-{}-cmd dbsync'.format(
                    found[0], found[1], schema.current[0], schema.current[1],
                    context.service.name))
            return 'schema {}.{}'.format(*found)
    return Check('database', probe)


def http_check(name, url, timeout=READY_TIMEOUT):
    """A peer answers ``GET url`` with a status below 500."""
    def probe():
        import requests  # pylint: disable=import-outside-toplevel
        try:
            resp = requests.get(url, timeout=timeout, allow_redirects=False)
        except requests.RequestException as exc:
            raise CheckFailed('{} does not answer: {}'.format(_where(url), _reason(exc))) from None
        resp.close()
        if resp.status_code >= 500:
            raise CheckFailed('{} answered {}'.format(_where(url), resp.status_code))
        return '{} answered {}'.format(_where(url), resp.status_code)
    return Check(name, probe)


def directory_check(name, path):
    """``path`` is a directory this process can write to."""
    def probe():
        if not os.path.isdir(path):
            raise CheckFailed('{} is not a directory'.format(path))
        if not os.access(path, os.W_OK | os.X_OK):
            raise CheckFailed('{} is not writable'.format(path))
        return None
    return Check(name, probe)


def _where(url):
    """A URL without credentials, path or query (enough to say which peer)."""
    parts = urlsplit(url)
    host = parts.hostname or ''
    return '{}://{}{}'.format(parts.scheme, host, ':{}'.format(parts.port) if parts.port else '')


def _reason(exc):
    """A one-line reason that names no host, user or file (those go to the log)."""
    for inner in _causes(exc):
        if isinstance(inner, OSError) and inner.strerror:
            return inner.strerror
    return type(exc).__name__


def _causes(exc):
    """``exc``, its causes, and the exceptions it carries as arguments (requests wraps
    urllib3's, which wraps the socket's)."""
    pending, seen = [exc], set()
    while pending:
        current = pending.pop(0)
        if current is None or id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        pending.extend([current.__cause__, current.__context__])
        pending.extend(arg for arg in getattr(current, 'args', ()) if isinstance(arg, BaseException))
        pending.append(getattr(current, 'reason', None) if isinstance(
            getattr(current, 'reason', None), BaseException) else None)


# -- running the checks --------------------------------------------------------------------------
class _Run:
    """One execution of a probe, shared by the requests that arrive while it runs."""

    def __init__(self):
        self.done = threading.Event()
        self.started = time.monotonic()
        self.ok = False
        self.message = None


class Readiness:
    """The checks of one service, each run at most once at a time."""

    def __init__(self, checks):
        self.checks = list(checks)
        self._guard = threading.Lock()
        self._running: Dict[str, _Run] = {}

    def _start(self, check):
        with self._guard:
            run = self._running.get(check.name)
            if run is not None and not run.done.is_set():
                return run          # still waiting on a hung peer: share it
            run = self._running[check.name] = _Run()
        threading.Thread(target=self._probe, args=(check, run), daemon=True,
                         name='ready-' + check.name).start()
        return run

    @staticmethod
    def _probe(check, run):
        try:
            run.message = check.probe()
            run.ok = True
        except CheckFailed as exc:
            run.message = str(exc)
        except Exception as exc:  # pylint: disable=broad-except
            LOGGER.warning('readiness check %s failed: %s: %s', check.name,
                           type(exc).__name__, exc)
            run.message = '{} (details in the service log)'.format(_reason(exc))
        finally:
            run.done.set()

    def report(self, timeout=READY_TIMEOUT):
        """``(ready, checks)``: every check's name, whether it passed, and why not."""
        runs = [(check, self._start(check)) for check in self.checks]
        deadline = time.monotonic() + timeout
        results = []
        for check, run in runs:
            finished = run.done.wait(max(0.0, deadline - time.monotonic()))
            if finished:
                entry = {'name': check.name, 'ok': run.ok, 'message': run.message or ''}
            else:
                entry = {'name': check.name, 'ok': False,
                         'message': 'no answer within {:.1f} s (waiting {:.1f} s so far)'.format(
                             timeout, time.monotonic() - run.started)}
            results.append(entry)
        return all(entry['ok'] for entry in results), results


def readiness_for(context):
    """The :class:`Readiness` of a started service: its database, then its own checks."""
    checks = []
    if context.database is not None:
        checks.append(database_check(context))
    probes = getattr(context.service, 'operations', None)
    if probes is not None and probes.checks is not None:
        checks.extend(probes.checks(context))
    return Readiness(checks)


# -- HTTP ----------------------------------------------------------------------------------------
def _only_get(allow='GET, HEAD'):
    import cherrypy  # pylint: disable=import-outside-toplevel
    request, response = cherrypy.serving.request, cherrypy.serving.response
    response.headers['Allow'] = allow
    if request.method not in ('GET', 'HEAD'):
        raise cherrypy.HTTPError(405, 'only GET and HEAD are allowed here')
    # Probes must always reach the service, never a cache.
    response.headers['Cache-Control'] = 'no-store'


def ready_handler(readiness):
    """The handler of ``GET /api/ready``: 200 or 503 with the checks as JSON."""
    import cherrypy  # pylint: disable=import-outside-toplevel

    def handler(**_params):
        _only_get()
        ready, checks = readiness.report()
        response = cherrypy.serving.response
        response.status = 200 if ready else 503
        response.headers['Content-Type'] = 'application/json'
        return json.dumps({'ready': ready,
                           'failing': [entry['name'] for entry in checks if not entry['ok']],
                           'checks': checks}).encode('utf-8')
    return handler


def metrics_handler(context):
    """The handler of ``GET /api/metrics``: the Prometheus text exposition."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    probes = getattr(context.service, 'operations', None)
    gauges = probes.gauges if probes is not None else None

    def handler(**_params):
        _only_get()
        from .errors import Unavailable  # pylint: disable=import-outside-toplevel
        if not metrics.available():
            raise Unavailable('metrics need prometheus_client: pip install the service\'s extra '
                              '(e.g. \'.[{}]\')'.format(context.service.name))
        body, content_type = metrics.exposition(
            (lambda: gauges(context)) if gauges is not None else None)
        cherrypy.serving.response.headers['Content-Type'] = content_type
        return body
    return handler


class OperationsDispatcher:
    """Answers exactly the operational paths, hands every other one to ``inner``; records
    every request's route, status and duration for the metrics."""

    def __init__(self, inner, routes):
        self.inner = inner
        self.routes = dict(routes)

    def __call__(self, path_info):
        import cherrypy  # pylint: disable=import-outside-toplevel
        from cherrypy._cpdispatch import LateParamPageHandler  # pylint: disable=import-outside-toplevel
        request = cherrypy.serving.request
        # CherryPy's start-up checker dispatches dummy requests whose hooks are the class's
        # own map: attaching there would count every later request twice.
        if request.hooks is not type(request).hooks:
            request.pacifica_started = time.monotonic()
            request.hooks.attach('on_end_request', _record_request, priority=90)
        handler = self.routes.get(path_info)
        if handler is None:
            self.inner(path_info)
            # Now, before tools wrap the handler: it says which resource answers.
            request.pacifica_route = route_of(request)
            return None
        # The root's settings (JSON errors, the error map) and nothing of the service's
        # resources: no body processing, no streaming, no service hooks.
        conf = cherrypy.config.copy()
        conf.update(request.app.config.get('/', {}))
        request.config = conf
        request.is_index = False
        request.handler = LateParamPageHandler(handler)
        request.pacifica_route = path_info
        return None


def _record_request():
    """``on_end_request``: count the request under its route (never its raw path)."""
    import cherrypy  # pylint: disable=import-outside-toplevel
    request, response = cherrypy.serving.request, cherrypy.serving.response
    started = getattr(request, 'pacifica_started', None)
    if started is None:
        return
    try:
        status = int(str(response.status).split()[0])
    except (ValueError, IndexError):
        status = 0
    metrics.record_request(getattr(request, 'pacifica_route', 'unmatched'), request.method, status,
                           time.monotonic() - started)


def route_of(request):
    """The route label of a dispatched request: the path of the resource that answers it,
    with its virtual segments (ids, uids, hashes) folded into ``*`` so the labels stay few."""
    from cherrypy._cpdispatch import PageHandler  # pylint: disable=import-outside-toplevel
    if not isinstance(getattr(request, 'handler', None), PageHandler):
        return 'unmatched'      # no resource (404) or no such method (405)
    args = request.args or ()
    segments = [seg for seg in request.path_info.strip('/').split('/') if seg]
    if args:
        segments = segments[:max(0, len(segments) - len(args))] + ['*']
    return '/' + '/'.join(segments)


def mount(app, context):
    """Put the operational endpoints (and ``/api/openapi.json``, see
    :mod:`pacifica.common.openapi`) and the request metrics on a built CherryPy app."""
    root = app.config.setdefault('/', {})
    inner = root.get('request.dispatch')
    if inner is None:
        import cherrypy  # pylint: disable=import-outside-toplevel
        inner = cherrypy.dispatch.MethodDispatcher()
    if isinstance(inner, OperationsDispatcher):
        inner = inner.inner
    metrics.prepare(context.service.name)
    from . import openapi  # pylint: disable=import-outside-toplevel
    routes = {READY_PATH: ready_handler(readiness_for(context)),
              METRICS_PATH: metrics_handler(context),
              openapi.OPENAPI_PATH: openapi.handler(context)}
    root['request.dispatch'] = OperationsDispatcher(inner, routes)
    return app


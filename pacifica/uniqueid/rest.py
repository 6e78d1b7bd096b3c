"""UniqueID's HTTP resources: ``/`` and ``/getid``."""
import cherrypy

from pacifica.common import rest
from pacifica.common.config import ConfigError
from pacifica.common.rest import MAX_BIGINT

from .allocate import MAX_MODE_LENGTH, allocate
from .config import DEFAULT_MAX_RANGE
from .fastpath import FAILED_KEY


class GetID:
    """``GET /getid?range=N&mode=M`` → ``{"startIndex": s, "endIndex": s+N-1}``.

    ``range`` is at most ``max_range`` (``[getid] max_range``), so that no single request
    can use up a mode: upstream allowed up to 2**63-1, after which the mode was dead.
    """

    exposed = True

    def __init__(self, max_range=DEFAULT_MAX_RANGE):
        self.max_range = max_range

    @staticmethod
    def _no_store():
        # Every call must reach the service: a cached answer would be a duplicate range.
        cherrypy.response.headers['Cache-Control'] = 'no-store'

    def _parse(self, extra, range_, mode):
        if extra:
            # /getid/<anything>: no such resource (CherryPy would otherwise hand the segment
            # over as the range and complain about "multiple values for range").
            raise rest.not_found()
        count = rest.int_param('range', range_, minimum=1, maximum=self.max_range)
        mode = rest.str_param('mode', mode, max_length=MAX_MODE_LENGTH)
        if '\x00' in mode:
            raise rest.bad_request("parameter 'mode' must not contain NUL characters")
        return count, mode

    def GET(self, *extra, range=None, mode=None, **_ignored):  # pylint: disable=redefined-builtin,invalid-name
        """Reserve ``range`` ids in ``mode``."""
        self._no_store()
        count, mode = self._parse(extra, range, mode)
        failed = (getattr(cherrypy.request, 'wsgi_environ', None) or {}).get(FAILED_KEY)
        if failed is not None:
            # The fast path in front tried this allocation and it failed: answer its error
            # here, with CherryPy's error page, rather than allocate a second time.
            raise failed
        start, end = allocate(mode, count)
        return rest.json_body({'startIndex': start, 'endIndex': end})

    def HEAD(self, *extra, range=None, mode=None, **_ignored):  # pylint: disable=redefined-builtin,invalid-name
        """Validate like GET but reserve nothing (upstream's HEAD consumed ids)."""
        self._no_store()
        self._parse(extra, range, mode)
        cherrypy.response.headers['Content-Type'] = rest.JSON_TYPE
        return b''


class Root(rest.StatusRoot):
    """``/`` and ``/getid``."""

    title = 'UniqueID'

    def __init__(self, max_range=DEFAULT_MAX_RANGE):
        self.getid = GetID(max_range)


def make_root(context):
    """The resource tree for a loaded config (``[getid] max_range`` checked here, so a bad
    value stops start-up with the key's name)."""
    max_range = context.config.get('getid', 'max_range')
    if not 1 <= max_range <= MAX_BIGINT:
        raise ConfigError('getid.max_range = {}: must be from 1 to {}'.format(
            max_range, MAX_BIGINT))
    return Root(max_range)

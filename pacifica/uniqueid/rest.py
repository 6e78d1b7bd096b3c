"""UniqueID's HTTP resources: ``/`` and ``/getid``."""
import cherrypy

from pacifica.common import rest
from pacifica.common.rest import MAX_BIGINT

from .allocate import MAX_MODE_LENGTH, RangeExhausted, allocate


def _parse(range_, mode):
    count = rest.int_param('range', range_, minimum=1, maximum=MAX_BIGINT)
    mode = rest.str_param('mode', mode, max_length=MAX_MODE_LENGTH)
    if '\x00' in mode:
        raise rest.bad_request("parameter 'mode' must not contain NUL characters")
    return count, mode


class GetID:
    """``GET /getid?range=N&mode=M`` → ``{"startIndex": s, "endIndex": s+N-1}``."""

    exposed = True

    @staticmethod
    def _no_store():
        # Every call must reach the service: a cached answer would be a duplicate range.
        cherrypy.response.headers['Cache-Control'] = 'no-store'

    def GET(self, range=None, mode=None, **_ignored):  # pylint: disable=redefined-builtin,invalid-name
        """Reserve ``range`` ids in ``mode``."""
        self._no_store()
        count, mode = _parse(range, mode)
        try:
            start, end = allocate(mode, count)
        except RangeExhausted as exc:
            raise rest.bad_request(str(exc)) from None
        return rest.json_body({'startIndex': start, 'endIndex': end})

    def HEAD(self, range=None, mode=None, **_ignored):  # pylint: disable=redefined-builtin,invalid-name
        """Validate like GET but reserve nothing (upstream's HEAD consumed ids)."""
        self._no_store()
        _parse(range, mode)
        cherrypy.response.headers['Content-Type'] = rest.JSON_TYPE
        return b''


class Root(rest.StatusRoot):
    """``/`` and ``/getid``."""

    title = 'UniqueID'

    def __init__(self):
        self.getid = GetID()


def make_root(_context):
    """The resource tree (the service has no settings that shape it)."""
    return Root()

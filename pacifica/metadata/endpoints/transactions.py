"""``/transactioninfo`` and ``/summaryinfo`` (spec 6, 7)."""
from pacifica.common import rest

from ..queries import reporting
from ..queries import transactions as tq
from ..queries.reasons import fail
from .base import Container, Leaf, args, body, endpoint


class ById(Leaf):
    """``GET /transactioninfo/by_id/<trans_id>``."""

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """One transaction with its files and key/values."""
        return tq.by_id(**args(vpath, params, 'trans_id'))


class TransactionFiles(Leaf):
    """``GET /transactioninfo/files/<transaction_id>``."""

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The transaction's files keyed by id."""
        return tq.files(**args(vpath, params, 'transaction_id'))


class Last(Leaf):
    """``GET /transactioninfo/last``."""

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The newest transaction id."""
        args(vpath, params)
        return tq.last()


class Search(Leaf):
    """``GET /transactioninfo/search[/<option>]?<filters>``."""

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Filtered, paged transactions."""
        option = args(vpath, params, 'option')['option']
        return tq.search(option, params)


class MultiSearch(Leaf):
    """``GET /transactioninfo/multisearch?project_id=&instrument_group_id=&...``."""

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Transaction details of a project and instrument group within a date range."""
        args(vpath, params)   # query parameters only: an extra segment is a 404
        found = {name: rest.single(name, params.get(name)) for name in (
            'project_id', 'instrument_group_id', 'start_time', 'end_time')}
        return reporting.multisearch(found, self.zone)


class ReleaseState(Leaf):
    """``GET /transactioninfo/release_state/<trans_id>``, ``POST`` with a list of ids."""

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The release state of one transaction."""
        trans_id = args(vpath, params, 'trans_id')['trans_id']
        if not trans_id:
            fail(400, 'Bad Request', 'You must supply a transaction id '
                 '(/transactioninfo/release_state/<trans_id>).')
        return tq.release_state([trans_id])

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """The release states of a list of transactions."""
        args(vpath, params)
        ids = body()
        if not isinstance(ids, list):
            fail(400, 'Bad Request', 'the body must be a JSON array of transaction ids')
        return tq.release_state(ids)


class Summary(Leaf):
    """``GET /transactioninfo/summary/<start_date>/<end_date>``."""

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Uploads per project and instrument."""
        return reporting.summary(zone=self.zone,
                                 **args(vpath, params, 'start_date', 'end_date'))


class ByDate(Leaf):
    """``POST /summaryinfo/by_date/<time_basis>/<object_type>/<start_date>/<end_date>``."""

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Files per local day for a list of objects."""
        found = args(vpath, params, 'time_basis', 'object_type', 'start_date', 'end_date')
        return reporting.by_date(body=body(), zone=self.zone, **found)


class TransactionDetails(Leaf):
    """``POST /summaryinfo/transaction_details``."""

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """One aggregate per transaction."""
        args(vpath, params)
        return reporting.transaction_details(body(), self.zone)


def transactioninfo(zone):
    """The ``/transactioninfo`` tree."""
    tree = Container()
    tree.by_id = ById()
    tree.files = TransactionFiles()
    tree.last = Last()
    tree.search = Search()
    tree.multisearch = MultiSearch(zone)
    tree.release_state = ReleaseState()
    tree.summary = Summary(zone)
    return tree


def summaryinfo(zone):
    """The ``/summaryinfo`` tree."""
    tree = Container()
    tree.by_date = ByDate(zone)
    tree.transaction_details = TransactionDetails(zone)
    return tree

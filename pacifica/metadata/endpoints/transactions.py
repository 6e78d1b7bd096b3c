"""``/transactioninfo`` and ``/summaryinfo`` (spec 6, 7)."""
from ..queries import reporting
from ..queries import transactions as tq
from ..queries.reasons import fail
from . import declare as d
from .base import Container, Leaf, body, endpoint

# The search filters (the only query parameters /transactioninfo/search reads), by kind.
SEARCH_KINDS = {
    'project': d.TEXT, 'project_id': d.TEXT,
    'instrument': d.ID_OR_OFF, 'instrument_id': d.ID_OR_OFF, 'transaction_id': d.ID_OR_OFF,
    'user': d.ID_OR_OFF, 'user_id': d.ID_OR_OFF, 'person': d.ID_OR_OFF,
    'person_id': d.ID_OR_OFF, 'submitter': d.ID_OR_OFF, 'submitter_id': d.ID_OR_OFF,
    'requesting_user': {'type': 'string', 'description': 'accepted and ignored'},
    'time_frame': {'type': 'string', 'description': 'accepted and ignored'},
    'start_time': d.WHEN, 'start': d.WHEN, 'end_time': d.WHEN, 'end': d.WHEN,
    'item_count': {'type': 'integer', 'minimum': 1, 'maximum': tq.MAX_OFFSET,
                   'description': 'page size (default {})'.format(tq.DEFAULT_ITEM_COUNT)},
    'page': {'type': 'integer', 'minimum': 1, 'maximum': tq.MAX_OFFSET,
             'description': '1-based page number (default 1)'},
}


class ById(Leaf):
    """``GET /transactioninfo/by_id/<trans_id>``."""

    args = (d.Arg('trans_id', d.ID, required=True),)
    answers = {'GET': d.TRANSACTION_BY_ID}

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """One transaction with its files and key/values."""
        return tq.by_id_json(**self.read(vpath, params))


class TransactionFiles(Leaf):
    """``GET /transactioninfo/files/<transaction_id>``."""

    args = (d.Arg('transaction_id', d.ID, required=True),)
    answers = {'GET': d.keyed(d.FILE, 'by file id, ordered by name')}

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The transaction's files keyed by id."""
        return tq.files_json(**self.read(vpath, params))


class Last(Leaf):
    """``GET /transactioninfo/last``."""

    answers = {'GET': d.LATEST}

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The newest transaction id."""
        self.read(vpath, params)
        return tq.last()


class Search(Leaf):
    """``GET /transactioninfo/search[/<option>]?<filters>``."""

    args = (d.Arg('option', d.STRING, '"list": without names and files; else "details"'),
            ) + tuple(d.Arg(name, SEARCH_KINDS[name], query_only=True)
                      for name in tq.SEARCH_PARAMS)
    answers = {'GET': d.SEARCH}

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Filtered, paged transactions (at least one filter)."""
        found = self.read(vpath, params)
        option = found.pop('option')
        return tq.search(option, {name: value for name, value in found.items()
                                  if value is not None})


class MultiSearch(Leaf):
    """``GET /transactioninfo/multisearch?project_id=&instrument_group_id=&...``."""

    args = (d.Arg('project_id', d.TEXT, query_only=True),
            d.Arg('instrument_group_id', d.ID, query_only=True),
            d.Arg('start_time', d.WHEN, 'default: the first day of this month', query_only=True),
            d.Arg('end_time', d.WHEN, 'default: the last day of this month', query_only=True))
    answers = {'GET': d.DETAILS}

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Transaction details of a project and instrument group within a date range."""
        # query parameters only: an extra segment is a 404
        return reporting.multisearch(self.read(vpath, params), self.zone)


class ReleaseState(Leaf):
    """``GET /transactioninfo/release_state/<trans_id>``, ``POST`` with a list of ids."""

    args = {'GET': (d.Arg('trans_id', d.ID, required=True),), 'POST': ()}
    bodies = {'POST': d.IDS}
    answers = {'GET': d.RELEASE_STATE, 'POST': d.RELEASE_STATE}

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """The release state of one transaction."""
        trans_id = self.read(vpath, params)['trans_id']
        if not trans_id:
            fail(400, 'Bad Request', 'You must supply a transaction id '
                 '(/transactioninfo/release_state/<trans_id>).')
        return tq.release_state([trans_id])

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """The release states of a list of transactions."""
        self.read(vpath, params, 'POST')
        ids = body()
        if not isinstance(ids, list):
            fail(400, 'Bad Request', 'the body must be a JSON array of transaction ids')
        return tq.release_state(ids)


class Summary(Leaf):
    """``GET /transactioninfo/summary/<start_date>/<end_date>``."""

    args = (d.Arg('start_date', d.WHEN, required=True),
            d.Arg('end_date', d.WHEN, 'the whole day when only a date', required=True))
    answers = {'GET': d.SUMMARY}

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def GET(self, vpath, params):  # pylint: disable=invalid-name
        """Uploads per project and instrument."""
        return reporting.summary(zone=self.zone, **self.read(vpath, params))


class ByDate(Leaf):
    """``POST /summaryinfo/by_date/<time_basis>/<object_type>/<start_date>/<end_date>``."""

    args = (d.Arg('time_basis', d.TEXT, '"created", "modified" or "submitted" (the first '
                                        'five letters count; else modified)', required=True),
            d.Arg('object_type', d.TEXT, '"instrument", "project" or "user" (else '
                                         'instrument)', required=True),
            d.Arg('start_date', d.WHEN, 'local time of the reporting zone; unreadable: 1997',
                  required=True),
            d.Arg('end_date', d.WHEN, 'local time; unreadable: now', required=True))
    bodies = {'POST': d.PROJECT_IDS}
    answers = {'POST': d.BY_DATE}

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """Files per local day for a list of objects."""
        return reporting.by_date(body=body(), zone=self.zone,
                                 **self.read(vpath, params, 'POST'))


class TransactionDetails(Leaf):
    """``POST /summaryinfo/transaction_details``."""

    bodies = {'POST': d.IDS}
    answers = {'POST': d.DETAILS}

    def __init__(self, zone):
        self.zone = zone

    @endpoint
    def POST(self, vpath, params):  # pylint: disable=invalid-name
        """One aggregate per transaction."""
        self.read(vpath, params, 'POST')
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

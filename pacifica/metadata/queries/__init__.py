"""The generic operations behind every object endpoint, free of HTTP.

coerce   turn JSON body values and query-string values into column values (or a 400)
filters  turn a query string into a WHERE clause, paging and recursion settings
read     select and serialise rows in the spec's JSON shape, reverse lists batched
write    create, update and delete in one transaction each; return the event to send

The query endpoints (part 2) live beside them: ingest (PUT /ingest), blocks (the shared
user/project/instrument JSON), people (/userinfo, /projectinfo, /instrumentinfo),
transactions (/transactioninfo), reporting (/summaryinfo and the report-like
/transactioninfo paths), keyvalues (/fileinfo, /tkvinfo, /tkvupload), doi (/doiupload),
migrate (/migrate), objectinfo (/objectinfo); reasons holds their reason-phrase errors.

The errors are :class:`pacifica.common.errors.ServiceError` subclasses: they carry their
status, and the common error handler answers them; no handler translates them by hand.
"""
from pacifica.common import errors


class InputError(errors.BadRequest):
    """The client sent something unusable: HTTP 400, the message says what and where."""


class NotFound(errors.NotFound):
    """Nothing matched an update or soft delete: HTTP 404."""

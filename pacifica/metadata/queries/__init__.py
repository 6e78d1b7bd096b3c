"""The generic operations behind every object endpoint, free of HTTP.

coerce   turn JSON body values and query-string values into column values (or a 400)
filters  turn a query string into a WHERE clause, paging and recursion settings
read     select and serialise rows in the spec's JSON shape, reverse lists batched
write    create, update and delete in one transaction each; return the event to send
"""


class InputError(ValueError):
    """The client sent something unusable: HTTP 400, the message says what and where."""

    status = 400


class NotFound(LookupError):
    """Nothing matched an update or soft delete: HTTP 404."""

    status = 404

"""Errors the query endpoints answer with a custom reason phrase (spec 0.4): the phrase is
part of the contract (``404 No Valid Users Located``), so the query layer names it."""


class ApiError(Exception):
    """An error response ``<status> <reason>`` with a JSON ``message``."""

    def __init__(self, status, reason, message):
        super().__init__(message)
        self.status = status
        self.reason = reason
        self.message = message


def fail(status, reason, message):
    """Raise :class:`ApiError`."""
    raise ApiError(status, reason, message)

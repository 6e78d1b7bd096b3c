"""Errors the query endpoints answer with a custom reason phrase (spec 0.4): the phrase is
part of the contract (``404 No Valid Users Located``), so the query layer names it."""
from pacifica.common.errors import ServiceError


class ApiError(ServiceError):
    """An error response ``<status> <reason>`` with a JSON ``message``."""

    def __init__(self, status, reason, message):
        super().__init__(message, status=status, reason=reason)


def fail(status, reason, message):
    """Raise :class:`ApiError`."""
    raise ApiError(status, reason, message)

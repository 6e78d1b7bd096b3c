"""The statuses of carts and of their files, with the sets the rules talk about.

The values are upstream's words, stored as they are in the ``status`` columns. The members
are ``str`` subclasses, so a value read from the database compares equal to its member and
goes out in headers and JSON unchanged. The transitions between them live in
:mod:`.lifecycle`, nowhere else.
"""
import enum


class _Status(str, enum.Enum):
    """A status stored as its upstream word."""

    def __str__(self):
        return self.value

    @classmethod
    def read(cls, value):
        """The member for a stored value (a value written by some other program stays text)."""
        try:
            return cls(value)
        except ValueError:
            return value


class CartStatus(_Status):
    """Where a cart is in its life."""

    WAITING = 'waiting'     # the column default; REST-created carts start STAGING
    STAGING = 'staging'
    BUNDLING = 'bundling'   # all files staged, one worker writing the bundle
    READY = 'ready'
    ERROR = 'error'
    DELETED = 'deleted'


class FileStatus(_Status):
    """Where one file of a cart is."""

    WAITING = 'waiting'     # not yet staged (queued, or being staged by a claimed worker)
    STAGING = 'staging'     # upstream's word while a worker stages it; read like WAITING
    STAGED = 'staged'
    ERROR = 'error'


# A cart in one of these has work in flight: never delete or purge it.
BUSY = (CartStatus.WAITING, CartStatus.STAGING, CartStatus.BUNDLING)
# A cart in one of these is finished: it can be downloaded (ready), deleted or purged.
FINISHED = (CartStatus.READY, CartStatus.ERROR)
# A file in one of these needs no more work.
FILE_DONE = (FileStatus.STAGED, FileStatus.ERROR)

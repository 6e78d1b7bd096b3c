"""A GET answer too large for one batch, sent as it is read (issue 13: bounded memory).

The rows are read in keyset batches (:func:`.queries.read.batches`) inside one transaction,
so the whole answer comes from one snapshot (REPEATABLE READ on PostgreSQL; on SQLite the
WAL read snapshot a transaction keeps from its first read to its end). Each batch is encoded
with the same encoder as the whole list would be and written at once, so the bytes are
exactly those of ``json.dumps`` of the full list.

The first batch is read before the handler returns: a database error there is still an
ordinary JSON error answer. Once bytes have gone out, a failure can no longer change the
status; it is logged and re-raised so the server drops the connection without the closing
``]`` (and, on a chunked answer, without the last chunk): a client can never take a cut
answer for a complete one.

The connection is given back by the per-request database tool, which runs when the server
closes the response, also after a client went away mid-body. This iterator may be closed
before or after that tool ran (or from another thread, by the garbage collector), so its
cleanup only rolls back a transaction on a connection that is still this thread's and not
yet given back.
"""
import json
import logging

from pacifica.common.database import family_of

from .orm import DB
from .queries import read

LOGGER = logging.getLogger(__name__)


def _begin(db):
    # A bare BEGIN, not peewee's transaction(): the request's database tool refuses to give
    # back a connection while a peewee transaction is open, and after a client left
    # mid-body that tool runs before this iterator is closed. The pool rolls back what a
    # returned connection still has open.
    if family_of(db) == 'postgresql':
        db.begin(isolation_level='REPEATABLE READ')
    else:
        db.begin()
    return db.connection()


def _pieces(obj, query, label, size):
    db = DB.obj
    conn = _begin(db)
    opening = b'['
    try:
        for rows in read.batches(obj, query, size):
            text = json.dumps(read.render(obj, query, rows))
            yield opening + text[1:-1].encode('ascii')
            opening = b', '
        db.commit()
        conn = None
    except Exception:
        if opening != b'[':   # before the first piece, the handler's error answer follows
            LOGGER.exception('%s: the read failed after the answer had started; the '
                             'connection is closed without the rest of it', label)
        raise
    finally:
        # still this thread's connection, not yet given back: end the read here
        if conn is not None and not db.is_closed() and db.connection() is conn:
            try:
                db.rollback()
            except Exception:  # pylint: disable=broad-except
                LOGGER.warning('%s: could not roll back the read', label, exc_info=True)
    yield b'[]' if opening == b'[' else b']'


class JsonArrayStream:
    """The byte pieces of a streamed answer; its first piece is read when it is built."""

    def __init__(self, obj, query, label, size=read.BATCH_ROWS):
        self._pieces = _pieces(obj, query, label, size)
        try:
            self._first = next(self._pieces)
        except BaseException:
            self._pieces.close()
            raise

    def __iter__(self):
        return self

    def __next__(self):
        if self._first is not None:
            first, self._first = self._first, None
            return first
        return next(self._pieces)

    def close(self):
        """Stop reading (the server calls this at the end, also when the client left)."""
        self._first = None
        self._pieces.close()

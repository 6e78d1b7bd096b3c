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
cleanup only rolls back a transaction that is still this thread's and still ours.
"""
import json
import logging

from pacifica.common.database import family_of

from .orm import DB
from .queries import read

LOGGER = logging.getLogger(__name__)


def _snapshot(db):
    if family_of(db) == 'postgresql':
        return db.transaction(isolation_level='REPEATABLE READ')
    return db.transaction()


def _pieces(obj, query, label, size):
    db = DB.obj
    txn = _snapshot(db)
    txn.__enter__()   # pylint: disable=unnecessary-dunder-call
    opening = b'['
    try:
        for rows in read.batches(obj, query, size):
            text = json.dumps(read.render(obj, query, rows))
            yield opening + text[1:-1].encode('ascii')
            opening = b', '
        done, txn = txn, None
        done.__exit__(None, None, None)   # pylint: disable=unnecessary-dunder-call
    except Exception:
        if opening != b'[':   # before the first piece, the handler's error answer follows
            LOGGER.exception('%s: the read failed after the answer had started; the '
                             'connection is closed without the rest of it', label)
        raise
    finally:
        if txn is not None and db.top_transaction() is txn:
            try:
                txn.rollback(False)
            except Exception:  # pylint: disable=broad-except
                LOGGER.warning('%s: could not roll back the read', label, exc_info=True)
            finally:
                db.pop_transaction()
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

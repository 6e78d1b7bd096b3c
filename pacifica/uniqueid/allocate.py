"""Allocating id ranges: one atomic statement per request, never a duplicate.

The counter row holds the next index to hand out. An allocation is a single
``UPDATE ... SET index = index + range ... RETURNING index``: the database serialises
concurrent updates of the row, so no two requests (threads, uWSGI workers or separate
service instances sharing the database) can read the same value. A new mode is created with
an insert that ignores a concurrent insert of the same mode, then the update runs again.
"""
from pacifica.common import metrics
from pacifica.common.database import TRANSIENT_ERRORS, connection_lost, quote, write_lock
from pacifica.common.errors import BadRequest
from pacifica.common.rest import MAX_BIGINT

from .orm import DB, UniqueIndex

MAX_MODE_LENGTH = 255
FIRST_INDEX = 0  # PROJECT CONTRACT: a new mode starts at 0 (upstream code started at 1)


class RangeExhausted(BadRequest):
    """The mode's counter cannot move ``range`` further within a signed 64-bit integer (400:
    a smaller range may still fit)."""


_STATEMENTS = {}


def _bump_sql(database):
    """The UPDATE ... RETURNING statement for ``database``, built once: generating it with
    the query builder on every request cost as much as running it."""
    key = id(database)
    if key not in _STATEMENTS:
        table, ident, index = (quote(database, name) for name in ('uniqueindex', 'id', 'index'))
        param = database.param
        _STATEMENTS[key] = (
            'UPDATE {t} SET {i} = {i} + {p} WHERE {id} = {p} AND {i} <= {p} '
            'RETURNING {i}'.format(t=table, i=index, id=ident, p=param))
    return _STATEMENTS[key]


def _bump(mode, count):
    """Advance the counter atomically; the new next index, or None when there is no row
    (or the range would overflow)."""
    database = DB.obj
    cursor = database.execute_sql(_bump_sql(database), (count, mode, MAX_BIGINT - count))
    row = cursor.fetchone()
    return row[0] if row else None


def _bump_locked(mode, count):
    """The same for a database without RETURNING (MySQL): lock the row, then update it."""
    with DB.atomic():
        row = (UniqueIndex.select(UniqueIndex.index)
               .where(UniqueIndex.idid == mode).for_update().first())
        if row is None or row.index > MAX_BIGINT - count:
            return None
        UniqueIndex.update(index=row.index + count).where(UniqueIndex.idid == mode).execute()
        return row.index + count


def _create(mode):
    UniqueIndex.insert(idid=mode, index=FIRST_INDEX).on_conflict_ignore().execute()


def _allocate(mode, count):
    bump = _bump if DB.obj.returning_clause else _bump_locked
    with write_lock(DB):
        new_next = bump(mode, count)
        if new_next is None:
            _create(mode)
            new_next = bump(mode, count)
    return new_next


def allocate(mode, count):
    """Reserve ``count`` ids in ``mode``; returns ``(start, end)`` inclusive.

    A pooled connection the database server dropped (a restart) is discarded and the
    allocation tried once more on a fresh one. That is safe: if the lost statement did
    commit, its range is simply never handed out, a gap and not a duplicate.
    """
    try:
        new_next = _allocate(mode, count)
    except TRANSIENT_ERRORS:
        if not connection_lost(DB):
            raise
        new_next = _allocate(mode, count)
    if new_next is None:
        raise RangeExhausted('mode {!r} cannot hand out {} more ids'.format(mode, count))
    _count_ids(mode, count)
    return new_next - count, new_next - 1


# The ids-allocated series of the modes seen so far (at most _MAX_SERIES of them): looking a
# series up through metrics.inc (label checks, bounding under a lock) cost more than counting.
_SERIES = {}
_MAX_SERIES = 1024


def _count_ids(mode, count):
    """``metrics.inc('pacifica_uniqueid_ids_allocated_total', count, mode=mode)``."""
    series = _SERIES.get(mode)
    if series is None:
        series = metrics.series('pacifica_uniqueid_ids_allocated_total', mode=mode)
        if series is None:
            return
        if len(_SERIES) < _MAX_SERIES:
            _SERIES[mode] = series
    if count:
        series.inc(count)


"""Every status transition of a cart and of its files, in one place.

The REST layer (create, delete), the Celery tasks (staged, error, bundling, ready, re-drive)
and the admin commands (``fixit``, ``purge``) all move carts through these functions, and
nothing else writes a ``status`` column. Each transition is one conditional UPDATE (or one
transaction), so two processes racing for the same transition cannot both win::

    staging ──► bundling ──► ready ──► deleted
       │            │          ▲
       ▼            ▼          │ (fixit: error → staging)
     error ◄────────┘          │
       └───────────────────────┘ deleted
"""
import logging
import uuid
from datetime import datetime

from pacifica.common import errors

from pacifica.common.database import peewee

from .archive import short
from .orm import DB, Cart, File
from .states import BUSY, CartStatus, FileStatus, FILE_DONE

LOGGER = logging.getLogger(__name__)
MESSAGE_LIMIT = 500     # characters of an error message kept in the database
INSERT_CHUNK = 500      # rows per INSERT: under every database's parameter limit


class CartInUse(errors.Conflict):
    """409: the cart cannot be removed now (staging, bundling or being downloaded)."""


class BrokerUnavailable(errors.Unavailable):
    """503: the cart was written but its tasks could not be queued; it is marked error."""


def now():
    """Naive local time, as upstream stored it."""
    return datetime.now()


# -- REST: create ------------------------------------------------------------------------------
def create(uid, files, bundle_flag):
    """Insert a staging cart and all of its files in one transaction; returns the cart."""
    with DB.atomic():
        cart = Cart.create(cart_uid=uid, status=CartStatus.STAGING, bundle=bundle_flag,
                           total_files=len(files), staged_files=0, staged_bytes=0,
                           announced_bytes=0)
        rows = [{'cart': cart.id, 'archive_id': item['id'], 'bundle_path': item['path'],
                 'hash_type': item['hashtype'], 'hash_value': item['hashsum'],
                 'status': FileStatus.WAITING} for item in files]
        for start in range(0, len(rows), INSERT_CHUNK):
            File.insert_many(rows[start:start + INSERT_CHUNK]).execute()
    return cart


def start(uid, files, bundle_flag, enqueue):
    """Create the cart and, once it is committed, ``enqueue(cart_id)`` its work.

    When the broker cannot take the tasks the cart is marked ``error`` (so no client waits
    for it for ever) and :class:`BrokerUnavailable` is raised.
    """
    cart = create(uid, files, bundle_flag)
    try:
        enqueue(cart.id)
    except Exception as exc:  # pylint: disable=broad-except
        LOGGER.exception('cannot queue cart %s', cart.id)
        fail_cart(cart.id, 'Failed to queue the cart: the task broker is unreachable')
        raise BrokerUnavailable('the task broker is unreachable ({}); the cart was not '
                                'started'.format(type(exc).__name__)) from None
    return cart


# -- workers: progress and failure -------------------------------------------------------------
def fail_cart(cart_id, message):
    """Move a cart that still has work in flight (waiting, staging or bundling) to
    ``error``; True if it did. A finished or deleted cart keeps its status."""
    return Cart.update(status=CartStatus.ERROR, error=short(message, MESSAGE_LIMIT),
                       claimed_by=None, updated_date=now()).where(
        (Cart.id == cart_id) & Cart.status.in_(BUSY)).execute() == 1


def cart_error(file_error):
    """The cart's message for a failed file (upstream's wording)."""
    return short('Failed to pull file({})'.format(file_error), MESSAGE_LIMIT)


def fail_file(file_id, message):
    """Mark a file ``error`` and its cart ``error`` (from whatever busy state it is in)."""
    message = short(message, MESSAGE_LIMIT)
    with DB.atomic():
        File.update(status=FileStatus.ERROR, error=message, claimed_by=None).where(
            File.id == file_id).execute()
        row = File.get_or_none(File.id == file_id)
        if row is not None:
            fail_cart(row.cart_id, cart_error(message))


def announce_sizes(cart_id, sizes):
    """Record the sizes the archive announced for files of a cart, ``{file id: bytes}``,
    and add them to the cart's ``announced_bytes``, in one transaction.

    A file's size is recorded once (the UPDATE requires it unset, and two transactions
    announcing one file are serialised on its row), so a file announced again (pulled
    again after a worker died) is not counted twice.
    """
    if not sizes:
        return
    with DB.atomic():
        added = 0
        for file_id, size in sorted(sizes.items()):
            if File.update(size=size).where((File.id == file_id) &
                                            File.size.is_null()).execute():
                added += size
        if added:
            Cart.update(announced_bytes=Cart.announced_bytes + added).where(
                Cart.id == cart_id).execute()


def mark_staged(file_ids, cart_ids):
    """Record files as staged (their claims end) and their carts as alive, together, and
    add the files that were not staged yet to their carts' ``staged_files`` and
    ``staged_bytes``.

    Which files are newly staged is decided by the same UPDATE that stages them (it skips
    files already staged, and two transactions staging one file are serialised on its
    row), so a file is counted once however often it is pulled and recorded.
    """
    file_ids = list(file_ids)
    token = 'staging/{}'.format(uuid.uuid4().hex)
    with DB.atomic():
        File.update(status=FileStatus.STAGED, error='', claimed_by=token).where(
            File.id.in_(file_ids) & (File.status != FileStatus.STAGED)).execute()
        counted = list(File.select(File.cart, peewee.fn.COUNT(File.id),
                                   peewee.fn.SUM(peewee.fn.COALESCE(File.size, 0)))
                       .where(File.claimed_by == token).group_by(File.cart).tuples())
        File.update(claimed_by=None).where(File.id.in_(file_ids)).execute()
        for cart_id, count, size in counted:
            Cart.update(staged_files=Cart.staged_files + count,
                        staged_bytes=Cart.staged_bytes + (size or 0)).where(
                Cart.id == cart_id).execute()
        Cart.update(updated_date=now()).where(Cart.id.in_(list(cart_ids))).execute()


def first_failed_file(cart_id):
    """A failed file of the cart, or None."""
    return File.select().where((File.cart == cart_id) &
                               (File.status == FileStatus.ERROR)).first()


def files_to_do(cart_id):
    """Ids of the cart's files not yet staged (nor failed), in order."""
    return [row.id for row in File.select(File.id).where(
        (File.cart == cart_id) & File.status.not_in(FILE_DONE)).order_by(File.id)]


# -- workers: bundling ---------------------------------------------------------------------------
def claim_bundling(cart_id, worker):
    """``staging`` → ``bundling`` for ``worker``, if every file is staged; True for the one
    caller that wins (a single conditional UPDATE, so a cart is bundled once).

    Each batch of staged files asks this, and the check of the cart's file rows reads them
    all (a cart of 10,000 files: about 7 ms on SQLite, against 1.3 ms), so the cart row's
    counters answer first: while ``staged_files`` is below ``total_files``, files are left
    and the rows are not read. A cart without counters (made before schema 2.2) is checked
    by its rows alone; the rows still decide when the counters say done.
    """
    not_done = File.select(File.cart).where(
        (File.cart == cart_id) & (File.status != FileStatus.STAGED))
    counted_done = (Cart.staged_files.is_null() | Cart.total_files.is_null() |
                    (Cart.staged_files >= Cart.total_files))
    return Cart.update(status=CartStatus.BUNDLING, claimed_by=worker, heartbeat=now(),
                       updated_date=now()).where(
        (Cart.id == cart_id) & (Cart.status == CartStatus.STAGING) &
        Cart.deleted_date.is_null() & counted_done & Cart.id.not_in(not_done)
    ).execute() == 1


def mark_ready(cart_id, bundle_path):
    """``bundling`` → ``ready`` once the bundle is in place; True if it did."""
    return Cart.update(status=CartStatus.READY, bundle_path=bundle_path, error='',
                       claimed_by=None, updated_date=now()).where(
        (Cart.id == cart_id) & (Cart.status == CartStatus.BUNDLING)).execute() == 1


def restage(cart_id, from_status, claimed_by=None):
    """Hand a cart that lost its worker back to staging (``from_status`` must still hold,
    and, when given, the claim too); True if this caller did."""
    query = (Cart.id == cart_id) & (Cart.status == from_status) & Cart.deleted_date.is_null()
    if claimed_by is not None:
        query &= Cart.claimed_by == claimed_by
    return Cart.update(status=CartStatus.STAGING, claimed_by=None, heartbeat=None,
                       updated_date=now()).where(query).execute() == 1


def redrive_stale(cutoff):
    """Carts with no progress since ``cutoff`` (their tasks were lost), moved back to
    ``staging``, each by exactly one caller; returns the ids this caller took."""
    stale = Cart.select(Cart.id, Cart.status).where(
        Cart.status.in_(BUSY) & Cart.deleted_date.is_null() & (Cart.updated_date < cutoff))
    taken = []
    for cart in stale:
        claimed = Cart.update(status=CartStatus.STAGING, claimed_by=None,
                              updated_date=now()).where(
            (Cart.id == cart.id) & (Cart.status == cart.status) &
            (Cart.updated_date < cutoff)).execute()
        if claimed:
            taken.append(cart.id)
    return taken


# -- admin: fixit, delete ------------------------------------------------------------------------
def reset_for_fixit(cart_id):
    """Give a cart's failed files another chance: they go back to ``waiting`` and the cart
    to ``staging`` (claims dropped: ``fixit`` stages them itself)."""
    with DB.atomic():
        File.update(status=FileStatus.WAITING, error='', claimed_by=None).where(
            (File.cart == cart_id) & (File.status == FileStatus.ERROR)).execute()
        Cart.update(status=CartStatus.STAGING, error='', claimed_by=None,
                    updated_date=now()).where(Cart.id == cart_id).execute()


def check_removable(cart):
    """Raise :class:`CartInUse` if the cart has work in flight."""
    if cart.status in BUSY:
        raise CartInUse('cart {} is {}; delete it once it is ready or in error'.format(
            cart.cart_uid, cart.status))


def mark_deleted(cart):
    """→ ``deleted``, unless the cart went busy or was deleted meanwhile (CartInUse)."""
    done = Cart.update(status=CartStatus.DELETED, deleted_date=now(),
                       updated_date=now()).where(
        (Cart.id == cart.id) & Cart.deleted_date.is_null() & Cart.status.not_in(BUSY)
    ).execute()
    if not done:
        raise CartInUse('cart {} changed state while being deleted'.format(cart.cart_uid))

"""The cart rules that touch the database: create, select, report, delete, purge.

REST handlers, the admin command and the workers all call these, so each rule exists once.
"""
import logging
import os
from datetime import timedelta

from pacifica.common import errors

from . import bundle
from . import volume as vol
from . import lifecycle
from .lifecycle import CartInUse, now  # noqa: F401  (the rules' callers use these names)
from .orm import DB, ERROR, FILE_STAGED, READY, Cart, CartTasks, File


LOGGER = logging.getLogger(__name__)


class RemoveFailed(errors.ServiceError):
    """500: the cart was marked deleted but its files could not all be removed."""

    status = 500


def active_carts(uid):
    """Every non-deleted cart with ``uid``, newest first."""
    return list(Cart.select().where((Cart.cart_uid == uid) & Cart.deleted_date.is_null())
                .order_by(Cart.creation_date.desc(), Cart.id.desc()))


def newest_cart(uid):
    """The cart GET and HEAD act on: the newest non-deleted one with ``uid`` (or None)."""
    carts = active_carts(uid)
    return carts[0] if carts else None


def record_tasks(cart_id, task_ids):
    """Note the Celery task ids enqueued for a cart (upstream's ``carttasks``)."""
    rows = [{'cart': cart_id, 'celery_task_id': task_id} for task_id in task_ids]
    for start in range(0, len(rows), 500):
        CartTasks.insert_many(rows[start:start + 500]).execute()


def touch(cart_id):
    """Bump ``updated_date``: the cart is alive (staging) or was just used (download)."""
    Cart.update(updated_date=now()).where(Cart.id == cart_id).execute()


def _read_sizes(volume, cart_id):
    """The ``sizes~`` file of a cart staged before schema 2.2 as {file id: size}; lines
    that are not two decimal numbers (a torn last line, say) are skipped."""
    try:
        with vol.opened(vol.open_cart_dir(volume, cart_id)) as cart_fd:
            fd = vol.open_file(cart_fd, bundle.SIZES, os.O_RDONLY)
        with open(fd, 'rb') as handle:
            data = handle.read()
    except OSError:
        return {}
    sizes = {}
    for line in data.split(b'\n'):
        parts = line.split(b' ')
        if len(parts) == 2 and parts[0].isdigit() and parts[1].isdigit():
            sizes[int(parts[0])] = int(parts[1])
    return sizes


def prepare_cart_dir(volume, cart_id):
    """Create a new cart's directory exclusively, before any of its work is queued; True if
    it was made. Otherwise the cart is failed with the reason (an entry of that name is
    already in the volume, or it cannot be created) and nothing should be queued."""
    try:
        vol.create_cart_dir(volume, cart_id)
        return True
    except FileExistsError:
        message = ('the cart volume already holds an entry named {} (a leftover or a planted '
                   'link); the cart was not started'.format(cart_id))
    except OSError as exc:
        message = 'cannot create the cart directory {}: {}; the cart was not started'.format(
            cart_id, exc.strerror or exc)
    LOGGER.error('cart %s: %s', cart_id, message)
    lifecycle.fail_cart(cart_id, message)
    return False


def progress(cart, volume):
    """``(files staged, files, bytes staged, bytes announced so far)`` of a cart.

    The byte total counts the files whose size the archive has reported; it grows to the
    full total as staging proceeds. HEAD asks this at every poll, so it comes from the
    cart row's counters (see :func:`.lifecycle.mark_staged`), whatever the number of
    files. A cart without counters (made before schema 2.2, or by upstream code) is
    counted from its file rows.
    """
    counters = (cart.staged_files, cart.total_files, cart.staged_bytes, cart.announced_bytes)
    if None not in counters:
        return counters
    return _counted_progress(cart, volume)


def _counted_progress(cart, volume):
    """:func:`progress` from the file rows, with the sizes of files announced before 2.2
    from the ``sizes~`` file that cartd wrote then."""
    query = File.select(File.id, File.status, File.size).where(File.cart == cart.id)
    staged_text = str(FILE_STAGED)
    sizes = None
    total, staged, announced, staged_bytes = 0, 0, 0, 0
    for file_id, status, size in DB.execute(query).fetchall():
        if size is None:
            if sizes is None:
                sizes = _read_sizes(volume, cart.id)
            size = sizes.get(file_id)
        total += 1
        announced += size or 0
        if status == staged_text:
            staged += 1
            staged_bytes += size or 0
    return staged, total, staged_bytes, announced


def delete_cart(cart, volume, grace=0.0):
    """Remove one cart: refuse while it is busy, mark it deleted, remove its files.

    Busy means staging, bundling, or being downloaded (a download holds the cart's lock
    shared; this takes it exclusive, waiting at most ``grace`` seconds). The row is marked
    deleted before the files go, so no new download can start on a half-removed cart.
    """
    lifecycle.check_removable(cart)
    try:
        with bundle.cart_lock(volume, cart.id, exclusive=True, grace=grace):
            _mark_deleted(cart)
            _remove_files(cart, volume)
    except bundle.CartBusy:
        raise CartInUse('cart {} is being downloaded; try again when the download has '
                        'finished'.format(cart.cart_uid)) from None
    except (FileNotFoundError, vol.Refused):
        # No cart directory (an error cart that never staged anything), or something that
        # is not cartd's where it or its lock should be: nothing to lock; whatever is
        # there is removed without being followed.
        _mark_deleted(cart)
        _remove_files(cart, volume)


def _mark_deleted(cart):
    lifecycle.mark_deleted(cart)


def _remove_files(cart, volume):
    try:
        bundle.remove_cart_files(volume, cart.id, cart.cart_uid)
    except OSError as exc:
        raise RemoveFailed('cart {} was deleted but its files could not all be removed: '
                           '{}'.format(cart.cart_uid, exc.strerror or exc)) from None


def purge_older_than(cutoff, volume, report=print):
    """Delete every non-deleted, non-busy cart last updated before ``cutoff`` (one row at a
    time: a newer cart sharing the uid is left alone). Returns how many were deleted."""
    count = 0
    for cart in Cart.select().where(Cart.deleted_date.is_null() & (Cart.updated_date < cutoff)):
        report('deleting: cart {} (uid {}, status {}, updated {})'.format(
            cart.id, cart.cart_uid, cart.status, cart.updated_date))
        try:
            delete_cart(cart, volume)
        except (CartInUse, RemoveFailed) as exc:
            report('  skipped: {}'.format(exc))
            continue
        count += 1
    _sweep_deleted(cutoff, volume, report)
    return count


def _sweep_deleted(cutoff, volume, report):
    """Remove what is left on disk of carts deleted before ``cutoff`` (a delete whose
    removal failed, as deep trees did before removal became iterative). Entries of the
    volume with no cart row are reported, never removed: they are not this database's."""
    with vol.opened(vol.open_root(volume)) as root:
        numbered = sorted(int(name) for name in os.listdir(root) if name.isdigit())
        for start in range(0, len(numbered), lifecycle.INSERT_CHUNK):
            chunk = numbered[start:start + lifecycle.INSERT_CHUNK]
            known = {cart.id: cart for cart in Cart.select(
                Cart.id, Cart.cart_uid, Cart.deleted_date).where(Cart.id.in_(chunk))}
            for cart_id in chunk:
                cart = known.get(cart_id)
                if cart is None:
                    report('  left alone: {} in the volume belongs to no cart'.format(cart_id))
                elif cart.deleted_date is not None and cart.deleted_date < cutoff:
                    report('removing the files left by deleted cart {} (uid {})'.format(
                        cart_id, cart.cart_uid))
                    try:
                        bundle.remove_cart_files(volume, cart_id, cart.cart_uid)
                    except OSError as exc:
                        report('  skipped: {}'.format(exc.strerror or exc))


def free_bytes(volume):
    """Free bytes available to this user on the filesystem holding the volume."""
    info = os.statvfs(vol.root_path(volume))
    return info.f_bavail * info.f_frsize


def capacity_bytes(volume):
    """What the volume could hold for this user if it were empty: its filesystem's size
    less the blocks reserved for root that this user cannot have."""
    info = os.statvfs(vol.root_path(volume))
    return (info.f_blocks - (info.f_bfree - info.f_bavail)) * info.f_frsize


def _purge_candidates(keep_cart_id, buffer_seconds):
    """Finished carts (ready or error) unused for ``buffer_seconds``, oldest first."""
    cutoff = now() - timedelta(seconds=buffer_seconds)
    return list(Cart.select().where(
        Cart.deleted_date.is_null() & Cart.status.in_((READY, ERROR)) &
        (Cart.id != keep_cart_id) & (Cart.updated_date < cutoff))
        .order_by(Cart.creation_date, Cart.id))


def _cart_usage(volume, cart_id):
    try:
        with vol.opened(vol.open_root(volume)) as root:
            return vol.usage(root, str(cart_id))
    except OSError:
        return 0


def _plan_purge(volume, needed, candidates):
    """The fewest candidates, oldest first, whose space brings free space to ``needed``;
    None when even all of them would not."""
    free = free_bytes(volume)
    chosen = []
    for cart in candidates:
        if free >= needed:
            break
        free += _cart_usage(volume, cart.id)
        chosen.append(cart)
    return chosen if free >= needed else None


def purge_for_space(volume, needed, keep_cart_id, buffer_seconds, report=None):
    """Make ``needed`` bytes free by deleting least recently used finished carts, or
    delete nothing and return False when that cannot work.

    Only carts in ``ready`` or ``error``, untouched for ``buffer_seconds`` and not being
    downloaded are candidates, oldest first, and only as many as the space needs: before
    anything is deleted, free space plus what the candidates would release must reach
    ``needed``. Returns whether enough space is free.
    """
    skipped = set()
    while free_bytes(volume) < needed:
        candidates = [cart for cart in _purge_candidates(keep_cart_id, buffer_seconds)
                      if cart.id not in skipped]
        plan = _plan_purge(volume, needed, candidates)
        if plan is None:
            return False
        for victim in plan:
            try:
                delete_cart(victim, volume)
            except (CartInUse, RemoveFailed):
                skipped.add(victim.id)   # plan again without it
                break
            if report:
                report('purged cart {} (uid {}) to free space'.format(victim.id,
                                                                       victim.cart_uid))
            if free_bytes(volume) >= needed:
                return True
    return True


# Upstream's key for what the models call archive_id; the claims and the progress counters
# are not upstream's columns.
_DUMP_NAMES = {'archive_id': 'file_name'}
_NOT_DUMPED = ('claimed_by', 'heartbeat', 'total_files', 'staged_files', 'staged_bytes',
               'announced_bytes', 'size')


def _dumped(row):
    return {_DUMP_NAMES.get(name, name): str(value) for name, value in row.__data__.items()
            if name not in _NOT_DUMPED}


def dump_carts():
    """Every active cart, newest first, as upstream's ``dump`` shaped it."""
    result = []
    for cart in Cart.select().where(Cart.deleted_date.is_null()).order_by(
            Cart.creation_date.desc()):
        entry = _dumped(cart)
        files = [_dumped(row) for row in File.select().where(File.cart == cart.id)]
        if files:
            entry['files'] = files
        result.append(entry)
    return result


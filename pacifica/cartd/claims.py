"""Workers' claims: which process is staging a file or bundling a cart right now.

A task process claims the files it is about to stage (``file.claimed_by`` = its name,
``file.heartbeat`` = now) and the cart it bundles (the same columns on ``cart``), and keeps
them in its :class:`Holdings`. A thread in the process (:class:`Keeper`) renews the
heartbeats of those claims every ``claim_timeout / 4`` seconds. A claim ends when the file is staged or failed, the cart
ready or failed, or the process stops working on it (a file left to wait for tape, or to a
retry, is released: whoever runs that later message claims it again).

A message can still be lost unclaimed: the filesystem broker forgets a message the moment
a worker takes it, Redis hands it back only after its visibility timeout, and a worker can
die between taking a message and claiming its files. So a staging cart without progress
for ``claim_timeout`` seconds, none of whose files is claimed by a live process, is queued
again when the broker's queue is empty (every message was delivered, so none is waiting
for it); :func:`orphaned_carts`.

So a claim whose heartbeat is older than ``claim_timeout`` belongs to a process that died
(SIGKILL, OOM, a lost machine). Every live worker looks for such claims as often as it
renews its own and takes them over: the files are queued again, a cart caught mid-bundle
goes back to staging and is bundled again. Taking over is one conditional UPDATE per kind,
so two workers never both take the same claim. This works the same on every broker, which
matters because the brokers disagree about a dead worker's messages: RabbitMQ redelivers
them at once, Redis after its visibility timeout (an hour by default), the filesystem
broker never.

A worker's main process also claims the files of every message it receives, under
``<worker node>/<boot>/received`` (not renewed: the pool process that runs the message
takes the claim over), so messages a dead worker held in its buffers (prefetched, waiting
for their countdown) cost seconds too: the filesystem broker would lose them, Redis return
them an hour later.

Process names are ``<worker node>/<boot>/<pid>``, ``boot`` being fresh for each start of
the worker: claims held under the same node name but another boot belong to an earlier,
dead run of the same worker, and a starting worker takes them over without waiting.

Heartbeats are written with each worker's clock: the machines must agree on the time to
well within ``claim_timeout`` (NTP does).
"""
import logging
import os
import threading
import uuid
from collections import defaultdict, namedtuple
from datetime import timedelta

from pacifica.common import database
from pacifica.common.database import peewee

from . import lifecycle
from .orm import DB, Cart, File
from .states import CartStatus, FILE_DONE

LOGGER = logging.getLogger(__name__)

# What :func:`take_over_stale` handed out: {cart id: [file ids]} and [cart ids to bundle].
Handed = namedtuple('Handed', 'files carts')


def worker_name(node, boot, pid=None):
    """The name a task process claims under."""
    return '{}/{}/{}'.format(node, boot, os.getpid() if pid is None else pid)


def _earlier_runs(name):
    """Claims of other boots of the same node (certainly dead) as a peewee condition."""
    node, boot, _pid = name.rsplit('/', 2)
    prefix = node + '/'
    same_node = peewee.fn.SUBSTR(File.claimed_by, 1, len(prefix)) == prefix
    this_boot = peewee.fn.SUBSTR(File.claimed_by, 1, len(prefix + boot) + 1) == \
        prefix + boot + '/'
    return same_node & ~this_boot


def received_name(name):
    """The name a worker's main process claims the files of a message under when it
    receives it (``<node>/<boot>/received``), from one of its process names."""
    return name.rsplit('/', 1)[0] + '/received'


def claim_on_receipt(file_ids, received, timeout, until=None):
    """The main process of a worker just received a message about ``file_ids``: claim the
    free ones for the worker until a pool process takes them over, so a worker that dies
    with messages in its buffers (received, waiting for a process or for their countdown)
    leaves claims that lapse, not files nobody knows are lost. These claims are not
    renewed: one for a message with a countdown (``until``) lapses ``timeout`` after it is
    due."""
    now = lifecycle.now()
    beat = max(now, until) if until else now
    File.update(claimed_by=received, heartbeat=beat).where(
        File.id.in_(list(file_ids)) & File.status.not_in(FILE_DONE) &
        (File.claimed_by.is_null() | (File.heartbeat < now - timedelta(seconds=timeout)))
    ).execute()


def claim_files(file_ids, name, timeout):
    """Claim those of ``file_ids`` that are still to do and free (unclaimed, their claim
    lapsed, or claimed on receipt by this process's worker); returns the set of ids
    ``name`` now holds."""
    if not file_ids:
        return set()
    now = lifecycle.now()
    free = (File.claimed_by.is_null() | (File.claimed_by == name) |
            (File.claimed_by == received_name(name)) |
            (File.heartbeat < now - timedelta(seconds=timeout)))
    File.update(claimed_by=name, heartbeat=now).where(
        File.id.in_(list(file_ids)) & File.status.not_in(FILE_DONE) & free).execute()
    return {row.id for row in File.select(File.id).where(
        File.id.in_(list(file_ids)) & (File.claimed_by == name))}


def release_files(file_ids, name):
    """Let go of claims (the files wait for a later message, which claims them again)."""
    if file_ids:
        File.update(claimed_by=None, heartbeat=None).where(
            File.id.in_(list(file_ids)) & (File.claimed_by == name)).execute()


class Holdings:
    """What one process works on right now: the files and carts it claimed and has not
    finished or released. Only these are renewed, so a claim the process dropped (or
    could not release because the database was down) lapses instead of living on."""

    def __init__(self, name, timeout):
        self.name = name
        self.timeout = timeout
        self.files = set()
        self.carts = set()
        self.lock = threading.Lock()

    def claim(self, file_ids):
        """Claim what is free of ``file_ids``; returns the ids now held."""
        mine = claim_files(file_ids, self.name, self.timeout)
        with self.lock:
            self.files |= mine
        return mine

    def release(self, file_ids):
        """Stop working on files for now (a later message claims them again)."""
        with self.lock:
            self.files.difference_update(file_ids)
        release_files(file_ids, self.name)

    def finished(self, file_ids=(), cart_id=None):
        """Files staged or failed, a cart ready or failed: their claims ended with them."""
        with self.lock:
            self.files.difference_update(file_ids)
            self.carts.discard(cart_id)

    def hold_cart(self, cart_id):
        """The cart this process just claimed for bundling."""
        with self.lock:
            self.carts.add(cart_id)

    def renew(self):
        """Renew the heartbeats of everything held; returns how many rows were renewed."""
        with self.lock:
            files, carts = list(self.files), list(self.carts)
        now = lifecycle.now()
        count = 0
        if files:
            count += File.update(heartbeat=now).where(
                File.id.in_(files) & (File.claimed_by == self.name)).execute()
        if carts:
            count += Cart.update(heartbeat=now).where(
                Cart.id.in_(carts) & (Cart.claimed_by == self.name)).execute()
        return count

    def drop_all(self):
        """A task ended: release what it still held (best effort: what cannot be released
        now simply lapses, being no longer renewed)."""
        with self.lock:
            files, self.files, self.carts = list(self.files), set(), set()
        if files:
            try:
                release_files(files, self.name)
            except database.TRANSIENT_ERRORS as exc:
                LOGGER.warning('cannot release %d claim(s): %s', len(files), exc)


def take_over_stale(name, timeout, previous_runs=False):
    """Take the lapsed claims of dead processes (and, with ``previous_runs``, every claim of
    an earlier run of this worker); returns what must be queued again as :class:`Handed`.

    Files: claimed in one UPDATE under a one-off token, read back, then released, all in
    one transaction, so each is handed out by one worker. Carts caught bundling go back to
    staging (one conditional UPDATE each).
    """
    cutoff = lifecycle.now() - timedelta(seconds=timeout)
    lapsed = File.heartbeat < cutoff
    if previous_runs:
        lapsed |= _earlier_runs(name)
    live_carts = Cart.select(Cart.id).where((Cart.status == CartStatus.STAGING) &
                                            Cart.deleted_date.is_null())
    token = 'takeover/{}'.format(uuid.uuid4().hex)
    files = defaultdict(list)
    with DB.atomic():
        taken = File.update(claimed_by=token, heartbeat=lifecycle.now()).where(
            File.claimed_by.is_null(False) & File.status.not_in(FILE_DONE) & lapsed &
            File.cart.in_(live_carts)).execute()
        if taken:
            for file_id, cart_id in File.select(File.id, File.cart).where(
                    File.claimed_by == token).order_by(File.id).tuples():
                files[cart_id].append(file_id)
            File.update(claimed_by=None, heartbeat=None).where(
                File.claimed_by == token).execute()
    stale_carts = Cart.select(Cart.id, Cart.claimed_by).where(
        (Cart.status == CartStatus.BUNDLING) & Cart.deleted_date.is_null() &
        Cart.claimed_by.is_null(False) & (Cart.heartbeat < cutoff))
    carts = [cart.id for cart in stale_carts
             if lifecycle.restage(cart.id, CartStatus.BUNDLING, cart.claimed_by)]
    return Handed(dict(files), carts)


def orphaned_carts(timeout):
    """Staging carts that made no progress for ``timeout`` seconds and of which no file is
    claimed by a live process: if the broker's queue is empty too, their messages are gone
    (lost in the moment between a dead worker taking them from the broker and claiming
    them, or after their last file was recorded and before the bundling started)."""
    cutoff = lifecycle.now() - timedelta(seconds=timeout)
    live = File.select(File.cart).where(File.claimed_by.is_null(False) &
                                        File.status.not_in(FILE_DONE) &
                                        (File.heartbeat >= cutoff))
    return [cart.id for cart in Cart.select(Cart.id).where(
        (Cart.status == CartStatus.STAGING) & Cart.deleted_date.is_null() &
        (Cart.updated_date < cutoff) & Cart.id.not_in(live))]


def take_orphan(cart_id, timeout):
    """Mark an orphaned cart as handled now (one conditional UPDATE, so one worker queues
    it again); True for the caller that did."""
    cutoff = lifecycle.now() - timedelta(seconds=timeout)
    return Cart.update(updated_date=lifecycle.now()).where(
        (Cart.id == cart_id) & (Cart.status == CartStatus.STAGING) &
        (Cart.updated_date < cutoff)).execute() == 1


class Keeper:
    """A daemon thread renewing the claims of ``holdings`` every ``timeout / 4`` seconds
    and then calling ``tick()`` (with the thread's own database connection open)."""

    def __init__(self, holdings, tick=None):
        self.holdings = holdings
        self.every = max(0.2, holdings.timeout / 4.0)
        self.tick = tick
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name='cartd-claims', daemon=True)

    def start(self):
        """Start the thread (it runs until :meth:`stop` or the process ends)."""
        self.thread.start()
        return self

    def stop(self):
        """Stop renewing (the claims lapse ``timeout`` seconds later)."""
        self.stopped.set()
        if self.thread.is_alive() and threading.current_thread() is not self.thread:
            self.thread.join(self.every * 2)

    def __enter__(self):
        return self.start()

    def __exit__(self, *_exc):
        self.stop()

    def _run(self):
        while not self.stopped.is_set():
            try:
                with DB.connection_context():
                    self.holdings.renew()
                    if self.tick:
                        self.tick()
            except database.TRANSIENT_ERRORS as exc:
                LOGGER.warning('cannot renew the claims of %s: %s', self.holdings.name, exc)
            except Exception:  # pylint: disable=broad-except
                LOGGER.exception('claim keeper of %s', self.holdings.name)
            self.stopped.wait(self.every)

"""The cartd Celery application, built from one loaded config.

:func:`pacifica.cartd.tasks.make_app` builds a :class:`CartApp` from the server's, the admin
command's or the worker's config object; nothing here reads configuration at import time.
A :class:`CartApp` built without a config (``celery -A pacifica.cartd.tasks worker``) loads
``$CARTD_CONFIG`` (or ``~/.pacifica-cartd/config.ini``) with the env vars as defaults, the
first time Celery asks for its settings.

What the tasks share lives here too:

* :class:`CartTask`, the base class of every task: its own database connection, transient
  failures retried with back-off, anything else marks the file or cart ``error``;
* :class:`WorkerRuntime`, one per process that runs tasks: the database, the
  :class:`~.staging.Stager`, and the thread that keeps the process's claims alive and hands
  the claims of dead workers to live ones (:mod:`.claims`).
"""
import logging
import os
import random
import sys
import time
import uuid
from datetime import timedelta

from celery import Celery, Task, signals

from pacifica.common import config as cfg
from pacifica.common import database
from pacifica.common.schema import SchemaError

from . import claims, lifecycle, volume
from .archive import Transient
from .config import KEYS, filesystem_broker_dir
from .orm import DB, CartSchema
from .staging import Stager, backoff

LOGGER = logging.getLogger(__name__)
# Database hiccups (a lock timeout, a dropped connection) are worth a retry too.
TRANSIENT = (Transient,) + database.TRANSIENT_ERRORS


def load_config(environ=None):
    """The worker's config: ``$CARTD_CONFIG`` or ``~/.pacifica-cartd/config.ini``."""
    return cfg.load(KEYS, cfg.default_config_path('cartd', 'CARTD_CONFIG'), environ)


def celery_settings(config):
    """The Celery settings for a cartd config (the filesystem broker's directories are
    created: every process that builds the app really uses the broker)."""
    settings = {
        'broker_url': config.get('celery', 'broker_url') or 'filesystem://',
        'result_backend': config.get('celery', 'backend_url') or None,
        'task_ignore_result': True,
        # Late acks: a message is gone from the broker only once its task ran. RabbitMQ
        # hands a dead worker's unacknowledged messages to another consumer at once; Redis
        # only after its visibility timeout and the filesystem broker never, which is why
        # the workers' claims (claims.py) recover dead workers' files on every broker.
        'task_acks_late': True,
        'task_reject_on_worker_lost': True,
        # With late acks a worker should hold one message per process, not a batch that
        # another worker could be running.
        'worker_prefetch_multiplier': 1,
        'task_default_queue': config.get('celery', 'task_queue'),
        'task_serializer': 'json',
        'accept_content': ['json'],
        'broker_connection_retry_on_startup': True,
        'worker_hijack_root_logger': False,
    }
    if not config.get('celery', 'broker_url'):
        folder = filesystem_broker_dir(config)
        queue, control = os.path.join(folder, 'queue'), os.path.join(folder, 'control')
        for path in (queue, control):
            os.makedirs(path, exist_ok=True)
        settings['broker_transport'] = 'pacifica.cartd.fsbroker:Transport'
        settings['broker_transport_options'] = {
            'data_folder_in': queue, 'data_folder_out': queue, 'control_folder': control,
            # The default one-second poll would add a second to every hop of a cart.
            'polling_interval': 0.02,
        }
    return settings


class CartApp(Celery):
    """The Celery app named ``cart`` (as upstream) for one cartd config.

    ``config`` None: loaded from the environment on first use (the ``celery`` command).
    """

    def __init__(self, config=None):
        super().__init__('cart')
        self._cartd_config = config
        self._runtime = None
        self.boot = None          # set in the worker's main process, inherited by its pool
        self.node = None
        self.add_defaults(lambda: celery_settings(self.cartd_config))
        signals.worker_init.connect(self._on_worker_init, weak=False)
        signals.worker_process_init.connect(self._on_process_init, weak=False)
        signals.task_received.connect(self._on_task_received, weak=False)

    @property
    def cartd_config(self):
        """The cartd config this app was built from."""
        if self._cartd_config is None:
            try:
                self._cartd_config = load_config()
            except cfg.ConfigError as exc:
                # One line, as every other cartd program reports a bad config.
                print('pacifica.cartd.tasks: {}'.format(exc), file=sys.stderr)
                raise SystemExit(1) from None
        return self._cartd_config

    def get(self, section, name):
        """One value of the cartd config."""
        return self.cartd_config.get(section, name)

    # -- the worker ------------------------------------------------------------------------
    def _on_worker_init(self, sender=None, **_kwargs):
        """Main worker process, before the pool forks: name this worker incarnation and
        wait for the database (then let go of it: the pool processes open their own)."""
        if getattr(sender, 'app', None) is not self:
            return
        self.node = sender.hostname
        self.boot = uuid.uuid4().hex[:12]
        conf = self.cartd_config
        try:
            # The server's refusal, in the worker too: a volume others can write to.
            volume.prepare_root(conf.get('cartd', 'volume_path'))
        except volume.UnsafeVolume as exc:
            print('pacifica.cartd.tasks: {}'.format(exc), file=sys.stderr)
            os._exit(1)  # pylint: disable=protected-access
        db = database.open_database(conf.get('database', 'peewee_url'))
        try:
            database.connect_with_retry(db, conf.get('database', 'connect_attempts'),
                                        conf.get('database', 'connect_wait'))
        except database.ConnectError as exc:
            print('pacifica.cartd.tasks: {}'.format(exc), file=sys.stderr)
            os._exit(1)  # pylint: disable=protected-access
        try:
            # The server's refusal, in the worker too: a schema older than its queries need.
            CartSchema(db).check_safe()
        except SchemaError as exc:
            print('pacifica.cartd.tasks: {}'.format(exc), file=sys.stderr)
            os._exit(1)  # pylint: disable=protected-access
        db.close_all()
        # The main process claims the files of the messages it receives (see
        # _on_task_received) through this database. A pool process forked while it holds a
        # connection would share the connection's socket: close them all before each fork.
        DB.initialize(db)
        os.register_at_fork(before=db.close_all)

    def _on_task_received(self, sender=None, request=None, **_kwargs):
        """Main worker process: claim the files of a message as soon as it arrives."""
        task = getattr(request, 'task', None)
        if self.boot is None or getattr(task, 'target_kind', None) != 'files' or \
                not request.args:
            return
        ids = request.args[0] if isinstance(request.args[0], list) else [request.args[0]]
        until = request.eta.astimezone().replace(tzinfo=None) if request.eta else None
        try:
            with DB.connection_context():
                claims.claim_on_receipt(ids, claims.worker_name(self.node, self.boot,
                                                                'received'),
                                        self.get('cartd', 'claim_timeout'), until)
        except database.TRANSIENT_ERRORS as exc:
            LOGGER.warning('cannot claim the files of %s on receipt: %s', request.id, exc)

    def _on_process_init(self, sender=None, **_kwargs):
        """A pool process (or the solo worker) starts: build its runtime before the first
        task, which also re-drives what dead workers held."""
        if self.boot is None:
            return   # not a worker of this app
        self.node = sender or self.node
        self.runtime()

    def runtime(self, node=None):
        """This process's :class:`WorkerRuntime` (made on first use after a fork)."""
        if self._runtime is None or self._runtime.pid != os.getpid():
            if self.boot is None:   # a pool that sent no worker_init (threads): name it now
                self.boot = uuid.uuid4().hex[:12]
            self._runtime = WorkerRuntime(self, claims.worker_name(
                self.node or node or 'cartd@{}'.format(os.uname().nodename), self.boot))
        return self._runtime


def open_database(config):
    """Open and bind the models' database for this process, as the programs do."""
    db = database.open_database(config.get('database', 'peewee_url'))
    DB.initialize(db)
    if config.get('database', 'debug_logging'):
        database.enable_debug_logging()
    return db


class WorkerRuntime:
    """One task process's database, stager and claim keeper.

    The keeper thread, every ``claim_timeout / 4`` seconds: renews this worker's claims;
    takes over the claims of workers that stopped renewing theirs and queues their files
    again; and, every ``redrive_after / 2`` seconds, re-drives carts that made no progress
    at all (the last resort: a message lost before any worker claimed its files).
    """

    def __init__(self, app, worker):
        self.pid = os.getpid()
        self.app = app
        self.worker = worker
        config = app.cartd_config
        self.database = open_database(config)
        self.claim_timeout = config.get('cartd', 'claim_timeout')
        self.redrive_after = config.get('cartd', 'redrive_after')
        self.holdings = claims.Holdings(worker, self.claim_timeout)
        self.stager = Stager(config, holdings=self.holdings)
        self.keeper = claims.Keeper(self.holdings, self._tick)
        self._last_redrive = 0.0
        self._first = True
        self.keeper.start()

    def _tick(self):
        """Called by the keeper after each renewal, with a connection open."""
        from . import tasks  # pylint: disable=import-outside-toplevel
        # A starting worker also takes over at once what earlier runs of this same worker
        # (same node name, so certainly dead) held.
        handed = claims.take_over_stale(self.worker, self.claim_timeout,
                                        previous_runs=self._first)
        self._first = False
        for cart_id, file_ids in handed.files.items():
            LOGGER.warning('cart %s: %d file(s) held by a dead worker; staging them again',
                           cart_id, len(file_ids))
            tasks.enqueue_files(self.app, cart_id, file_ids)
        for cart_id in handed.carts:
            LOGGER.warning('cart %s: its bundler died; bundling it again', cart_id)
            tasks.enqueue_finish(self.app, cart_id)
        orphans = claims.orphaned_carts(self.claim_timeout)
        if orphans and self._queue_is_empty():
            for cart_id in orphans:
                if claims.take_orphan(cart_id, self.claim_timeout):
                    LOGGER.warning('cart %s: no progress, no live claim and no message '
                                   'queued; staging it again', cart_id)
                    tasks.enqueue_cart(self.app, cart_id)
        if time.monotonic() - self._last_redrive >= max(1.0, self.redrive_after / 2.0):
            self.redrive_now()

    def _queue_is_empty(self):
        """Whether the broker holds no message for this app's queue (a broker that cannot
        be asked counts as not empty)."""
        queue = self.app.conf.task_default_queue
        try:
            with self.app.connection_for_write() as conn:
                return conn.default_channel.queue_declare(queue=queue,
                                                          passive=True).message_count == 0
        except Exception as exc:  # pylint: disable=broad-except
            # No such queue holds no message: Redis keeps no key for an empty list.
            if getattr(exc, 'code', None) in (404, '404') or 'NOT_FOUND' in str(exc):
                return True
            LOGGER.warning('cannot count the messages in queue %s: %s', queue, exc)
            return False

    def redrive_now(self):
        """Re-drive the carts without progress for ``redrive_after`` seconds."""
        from . import tasks  # pylint: disable=import-outside-toplevel
        self._last_redrive = time.monotonic()
        cutoff = lifecycle.now() - timedelta(seconds=self.redrive_after)
        for cart_id in lifecycle.redrive_stale(cutoff):
            LOGGER.warning('cart %s made no progress for %s s; staging it again',
                           cart_id, self.redrive_after)
            tasks.enqueue_cart(self.app, cart_id)


class CartTask(Task):
    """Base of every cartd task (warehouse's ``WarehouseTask`` shape).

    A task's body gets the task (``bind``) and runs inside its own database connection.
    What escapes the body:

    * a transient failure (archive unreachable or 5xx, database locked or gone) is retried
      with jittered exponential back-off, ``cartd.task_retries`` times, then fails;
    * anything else fails at once.

    Failing marks the file(s) or cart the task was about ``error`` with a short message,
    whatever busy state (staging, bundling) the cart is in: a cart always ends ``ready``
    or ``error``. A task says what it is about with its ``target_kind`` option.
    """

    target_kind = None        # 'cart' or 'files': what the first argument names
    ignore_result = True
    acks_late = True
    reject_on_worker_lost = True

    def __call__(self, *args, **kwargs):
        runtime = self.app.runtime(getattr(self.request, 'hostname', None))
        try:
            with DB.connection_context():
                try:
                    return self.run(*args, **kwargs)
                finally:
                    # Whatever the task did not finish goes back (or lapses): a later
                    # message, or another worker, claims it.
                    runtime.holdings.drop_all()
        except TRANSIENT as exc:
            retries = runtime.app.get('cartd', 'task_retries')
            if self.request.retries < retries:
                # Jittered, and well within the claim timeout's multiple that re-drives.
                countdown = min(backoff(self.request.retries),
                                runtime.redrive_after / 3.0) * (0.75 + random.random() / 2)
                LOGGER.warning('%s: %s; retry %d/%d in %.1f s', self.name, exc,
                               self.request.retries + 1, retries, countdown)
                raise self.retry(exc=exc, countdown=countdown, max_retries=retries)
            self._fail(args, kwargs, str(exc))
        except Exception as exc:  # pylint: disable=broad-except
            LOGGER.exception('%s%r failed', self.name, args)
            self._fail(args, kwargs, 'internal error while staging ({}: {})'.format(
                type(exc).__name__, exc))
        return None

    def failure_target(self, args, kwargs):  # pylint: disable=unused-argument
        """``('cart', id)``, ``('files', [ids])`` or None: what a failure marks error (the
        task's first argument, as its ``target_kind`` option says)."""
        if self.target_kind is None or not args:
            return None
        ident = args[0]
        if self.target_kind == 'files' and not isinstance(ident, (list, tuple)):
            ident = [ident]
        return self.target_kind, ident

    def _fail(self, args, kwargs, message):
        target = self.failure_target(args, kwargs)
        if target is None:
            return
        kind, ident = target
        try:
            with DB.connection_context():
                if kind == 'cart':
                    lifecycle.fail_cart(ident, 'Failed to stage the cart: ' + message)
                else:
                    for file_id in ident:
                        lifecycle.fail_file(file_id, message)
        except database.TRANSIENT_ERRORS as exc:
            # The database is down too: the claims lapse and another worker takes over.
            LOGGER.error('cannot record the failure of %s %s: %s', kind, ident, exc)


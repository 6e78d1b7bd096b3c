"""The Celery app: ``celery -A pacifica.cartd.tasks worker --loglevel=info``.

The app is named ``cart`` and its tasks ``pacifica.cartd.tasks.<name>``, as upstream. The
broker comes from ``celery.broker_url``; when that is empty it is kombu's filesystem transport
in ``celery.filesystem_dir`` (default ``$PACIFICA_HOME/celery``), so the REST server and the
workers of one machine need no broker software.

Reliability settings (upstream had none): tasks are acknowledged late and rejected back to
the queue when their worker process dies; transient failures are retried with exponential
back-off; anything unexpected marks the file and its cart ``error`` (a cart always ends
``ready`` or ``error``). Every worker also re-drives, now and then, carts that made no
progress for ``cartd.redrive_after`` seconds, which recovers messages lost with a worker that
was killed (the filesystem broker has no redelivery).
"""
import logging
import os
import random
import sys
import threading
import time

from celery import Celery, signals

from pacifica.common import config as cfg
from pacifica.common import database

from . import carts
from .config import KEYS, filesystem_broker_dir
from .orm import DB, FILE_ERROR, FILE_STAGED, File
from .archive import Transient
from .staging import Stager, backoff

LOGGER = logging.getLogger(__name__)
TASK_OPTIONS = {'bind': True, 'ignore_result': True, 'acks_late': True,
                'reject_on_worker_lost': True}
# Database hiccups (a lock timeout, a dropped connection) are worth a retry too.
TRANSIENT_DB_ERRORS = database.TRANSIENT_ERRORS

app = Celery('cart')


def load_config():
    """The worker's config: ``$CARTD_CONFIG`` or ``~/.pacifica-cartd/config.ini``."""
    return cfg.load(KEYS, cfg.default_config_path('cartd', 'CARTD_CONFIG'))


def celery_settings(config, create_dirs=False):
    """The Celery settings for a cartd config (``create_dirs``: make the filesystem
    broker's directories, which a process that really uses the broker needs)."""
    settings = {
        'broker_url': config.get('celery', 'broker_url') or 'filesystem://',
        'result_backend': config.get('celery', 'backend_url') or None,
        'task_ignore_result': True,
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
        if create_dirs:
            for path in (queue, control):
                os.makedirs(path, exist_ok=True)
        settings['broker_transport'] = 'pacifica.cartd.fsbroker:Transport'
        settings['broker_transport_options'] = {
            'data_folder_in': queue, 'data_folder_out': queue, 'control_folder': control,
            # The default one-second poll would add a second to every hop of a cart.
            'polling_interval': 0.02,
        }
    return settings


class _State:
    """Per-process worker state, created on first use (after the pool forked)."""

    config = None
    config_error = None
    stager = None
    pid = None


def configure(config, create_dirs=False):
    """Point the app at ``config`` (the REST server calls this with its own config)."""
    _State.config = config
    _State.stager = None
    app.conf.update(celery_settings(config, create_dirs))


def _stager():
    if _State.stager is None or _State.pid != os.getpid():
        if DB.obj is None:
            DB.initialize(database.open_database(_State.config.get('database', 'peewee_url')))
        _State.stager = Stager(_State.config)
        _State.pid = os.getpid()
    return _State.stager


# -- enqueueing (REST server and workers) -------------------------------------------------------
def enqueue_cart(cart_id):
    """Queue the staging of a cart's unstaged files (or, when there are none, the task
    that finishes it) and record the tasks; raises if the broker is down.

    The file batches are queued from here, not from a first task, which saves a hop
    through the broker on every cart.
    """
    pending = [row.id for row in File.select(File.id).where(
        (File.cart == cart_id) & (File.status.not_in((FILE_STAGED, FILE_ERROR)))
    ).order_by(File.id)]
    if pending:
        _enqueue_files(cart_id, pending)
    else:
        carts.record_tasks(cart_id, [stage_cart.apply_async((cart_id,)).id])


MAX_BATCH = 16


def batches(file_ids):
    """Split a cart's files into tasks: small carts one file per task (every worker can
    help), large ones up to MAX_BATCH files per task (the per-task cost of Celery, about a
    HEAD's worth, would otherwise dominate carts of many small files). At least 16 tasks
    per cart are kept, so up to 16 worker processes share it."""
    size = max(1, min(MAX_BATCH, len(file_ids) // 16))
    return [file_ids[start:start + size] for start in range(0, len(file_ids), size)]


def _enqueue_files(cart_id, file_ids):
    ids = [stage_batch.apply_async((batch,)).id for batch in batches(file_ids)]
    carts.record_tasks(cart_id, ids)


# -- tasks -------------------------------------------------------------------------------------
@app.task(name='pacifica.cartd.tasks.stage_cart', **TASK_OPTIONS)
def stage_cart(self, cart_id):
    """Queue ``stage_batch`` batches for the files of the cart still to do (or finish it)."""
    stager = _stager()
    try:
        with DB.connection_context():
            pending = stager.pending_files(cart_id)
            if pending:
                _enqueue_files(cart_id, pending)
    except TRANSIENT_DB_ERRORS as exc:
        _retry_or_fail(self, exc, _fail_cart, cart_id)
    except Exception as exc:  # pylint: disable=broad-except
        LOGGER.exception('stage_cart %s failed', cart_id)
        _fail_cart(cart_id, exc)


# A batch records its pulled files as staged together, at most this many seconds apart
# (one commit per file was the largest cost of a cart of small files).
RECORD_EVERY = 1.0


@app.task(name='pacifica.cartd.tasks.stage_batch', **TASK_OPTIONS)
def stage_batch(self, file_ids):  # pylint: disable=unused-argument
    """Stage a batch of files one after the other. A file that must wait for the archive
    (tape) or hit a transient failure continues as its own ``stage_file`` task, so one slow
    file never holds up, or re-runs, the rest of the batch. Pulled files are recorded as
    staged together (see :data:`RECORD_EVERY`)."""
    stager = _stager()
    pulled, recorded = [], time.monotonic()
    for file_id in file_ids:
        started = time.time()
        try:
            with DB.connection_context():
                wait = stager.advance(file_id, started, 0, pulled)
        except (Transient,) + TRANSIENT_DB_ERRORS as exc:
            LOGGER.warning('file %s: %s; retrying it on its own', file_id, exc)
            stage_file.apply_async((file_id, started, 0), countdown=backoff(0))
            continue
        except Exception as exc:  # pylint: disable=broad-except
            LOGGER.exception('staging file %s failed', file_id)
            _fail_file(file_id, exc, unexpected=True)
            continue
        if wait is not None:
            stage_file.apply_async((file_id, started, 1), countdown=wait)
        if pulled and time.monotonic() - recorded >= RECORD_EVERY:
            _record(stager, pulled)
            pulled, recorded = [], time.monotonic()
    _record(stager, pulled)


def _record(stager, pulled):
    """Record pulled files as staged; if the database fails, each file goes on as its own
    ``stage_file`` task (which pulls it again)."""
    try:
        with DB.connection_context():
            stager.mark_staged(pulled)
    except TRANSIENT_DB_ERRORS as exc:
        LOGGER.warning('recording %d staged files failed: %s; retrying them on their own',
                       len(pulled), exc)
        for entry in pulled:
            stage_file.apply_async((entry.file_id, time.time(), 0), countdown=backoff(0))


@app.task(name='pacifica.cartd.tasks.stage_file', **TASK_OPTIONS)
def stage_file(self, file_id, started=None, attempt=0):
    """Stage one file: stage, wait for disk (polling with back-off), pull, verify."""
    stager = _stager()
    started = started or time.time()
    try:
        with DB.connection_context():
            wait = stager.advance(file_id, started, attempt)
    except (Transient,) + TRANSIENT_DB_ERRORS as exc:
        _retry_or_fail(self, exc, _fail_file, file_id)
        return
    except Exception as exc:  # pylint: disable=broad-except
        LOGGER.exception('stage_file %s failed', file_id)
        _fail_file(file_id, exc, unexpected=True)
        return
    if wait is not None:
        stage_file.apply_async((file_id, started, attempt + 1), countdown=wait)


@app.task(name='pacifica.cartd.tasks.redrive_stale', **TASK_OPTIONS)
def redrive_stale(self):  # pylint: disable=unused-argument
    """Re-queue carts whose tasks were lost (see the module docstring)."""
    stager = _stager()
    with DB.connection_context():
        stager.redrive_stale(enqueue_cart)


def _retry_or_fail(task, exc, fail, target):
    """Retry the task with back-off, or, out of retries, ``fail(target, exc)``."""
    retries = _State.config.get('cartd', 'task_retries')
    if task.request.retries < retries:
        # Jittered, and well within redrive_after so the cart does not look abandoned.
        countdown = min(backoff(task.request.retries),
                        _State.config.get('cartd', 'redrive_after') / 3.0)
        countdown *= 0.75 + random.random() / 2
        LOGGER.warning('%s: %s; retry %d/%d in %.1f s', task.name, exc,
                       task.request.retries + 1, retries, countdown)
        raise task.retry(exc=exc, countdown=countdown, max_retries=retries)
    fail(target, exc)


def _fail_file(file_id, exc, unexpected=False):
    message = str(exc) if not unexpected else 'internal error while staging ({}: {})'.format(
        type(exc).__name__, exc)
    stager = _stager()
    with DB.connection_context():
        stager.fail(file_id, message)


def _fail_cart(cart_id, exc):
    with DB.connection_context():
        carts.set_error(cart_id, 'internal error while staging the cart ({}: {})'.format(
            type(exc).__name__, exc))


@signals.worker_process_init.connect
def _warm_up(**_kwargs):
    """Build the pool process's stager (database pool, archive session) before the first
    task, not during it."""
    if _State.config is not None:
        _stager()


@signals.worker_init.connect
def _prepare_worker(**_kwargs):
    """Stop on a bad config with its one-line reason; create the filesystem broker's
    directories before the worker consumes."""
    if _State.config is None:
        print('pacifica.cartd.tasks: {}'.format(_State.config_error), file=sys.stderr)
        os._exit(1)  # pylint: disable=protected-access
    configure(_State.config, create_dirs=True)


# -- the worker's re-drive timer -----------------------------------------------------------------
@signals.worker_ready.connect
def _start_redrive_timer(sender=None, **_kwargs):  # pylint: disable=unused-argument
    """Send ``redrive_stale`` now and every ``redrive_after / 2`` seconds.

    The timer only publishes messages; the database work runs in a pool process.
    """
    every = max(1.0, _State.config.get('cartd', 'redrive_after') / 2.0)

    def loop():
        while True:
            try:
                redrive_stale.apply_async()
            except Exception:  # pylint: disable=broad-except
                LOGGER.exception('cannot queue redrive_stale')
            time.sleep(every)

    threading.Thread(target=loop, name='cartd-redrive', daemon=True).start()


try:
    configure(load_config())
except cfg.ConfigError as _exc:
    # Importing must not fail on a bad INI or variable: the REST server loads its own config
    # (and reports it in one line), a worker stops with the message in worker_init.
    _State.config_error = _exc

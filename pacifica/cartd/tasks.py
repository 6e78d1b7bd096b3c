"""The cart tasks, and the app: ``celery -A pacifica.cartd.tasks worker --loglevel=info``.

The app is named ``cart`` and its tasks ``pacifica.cartd.tasks.<name>``, as upstream's were
(the names themselves differ from upstream's: only cartd's own workers consume them, no
Pacifica peer sends or reads them). The broker comes from ``celery.broker_url``; when that
is empty it is kombu's filesystem transport in ``celery.filesystem_dir`` (default
``$PACIFICA_HOME/celery``), so the REST server and the workers of one machine need no
broker software.

:func:`make_app` builds the app from a loaded config: the REST server and the admin command
call it with theirs. The module's :data:`app` (what ``celery -A`` finds) is built the same
way, but loads its config (``$CARTD_CONFIG``, env vars, defaults) only when Celery first
asks for its settings, never at import.

The plumbing every task shares (connection, retries, failure marking) is
:class:`~.app.CartTask`; the recovery from dead workers is :mod:`.claims`.
"""
import logging
import time

from . import carts, lifecycle
from .app import TRANSIENT, CartApp, CartTask, celery_settings, load_config  # noqa: F401
from .staging import backoff

LOGGER = logging.getLogger(__name__)
PREFIX = 'pacifica.cartd.tasks.'
MAX_BATCH = 16
# A batch records its pulled files as staged together, at most this many seconds apart
# (one commit per file was the largest cost of a cart of small files).
RECORD_EVERY = 1.0


def _send(app, name, args, **options):
    return app.tasks[PREFIX + name].apply_async(args, **options)


# -- enqueueing (REST server and workers) -------------------------------------------------------
def enqueue_cart(app, cart_id):
    """Queue the staging of a cart's files still to do (or, when there are none, the task
    that finishes it) and record the tasks; raises if the broker is down.

    The file batches are queued from here, not from a first task, which saves a hop
    through the broker on every cart.
    """
    pending = lifecycle.files_to_do(cart_id)
    if pending:
        enqueue_files(app, cart_id, pending)
    else:
        enqueue_finish(app, cart_id)


def enqueue_finish(app, cart_id):
    """Queue the task that stages what is left of a cart and bundles it."""
    carts.record_tasks(cart_id, [_send(app, 'stage_cart', (cart_id,)).id])


def batches(file_ids):
    """Split a cart's files into tasks: small carts one file per task (every worker can
    help), large ones up to MAX_BATCH files per task (the per-task cost of Celery, about a
    HEAD's worth, would otherwise dominate carts of many small files). At least 16 tasks
    per cart are kept, so up to 16 worker processes share it."""
    size = max(1, min(MAX_BATCH, len(file_ids) // 16))
    return [file_ids[start:start + size] for start in range(0, len(file_ids), size)]


def enqueue_files(app, cart_id, file_ids):
    """Queue ``stage_batch`` tasks for files of one cart and record them."""
    ids = [_send(app, 'stage_batch', (batch,)).id for batch in batches(list(file_ids))]
    carts.record_tasks(cart_id, ids)


# -- the tasks (each runs through CartTask.__call__) -----------------------------------------------
def stage_cart(task, cart_id):
    """Queue batches for the files of the cart still to do, or bundle it when none are."""
    pending = task.app.runtime().stager.pending_files(cart_id)
    if pending:
        enqueue_files(task.app, cart_id, pending)


def stage_batch(task, file_ids):
    """Stage a batch of files one after the other.

    The batch claims all its files first (so a worker that dies mid-batch leaves claims
    that lapse, not files nobody knows about); a file another live process holds is
    skipped. The batch's rows and archive statuses are read first, and the sizes announced
    in one transaction (:meth:`~.staging.Stager.survey`). A file that must wait for the
    archive (tape) or hits a transient failure
    continues as its own ``stage_file`` task, so one slow file never holds up, or re-runs,
    the rest of the batch. Pulled files are recorded as staged together (see
    :data:`RECORD_EVERY`).
    """
    runtime = task.app.runtime()
    stager = runtime.stager
    mine = runtime.holdings.claim(file_ids)
    surveyed = stager.survey(mine) if mine else {}
    pulled, recorded = [], time.monotonic()
    for file_id in file_ids:
        if file_id not in mine:
            continue
        started = time.time()
        try:
            wait = stager.advance(file_id, started, 0, pulled, claimed=True,
                                  surveyed=surveyed.get(file_id))
        except TRANSIENT as exc:
            LOGGER.warning('file %s: %s; retrying it on its own', file_id, exc)
            _let_go(runtime.holdings, file_id)
            _send(task.app, 'stage_file', (file_id, started, 0), countdown=backoff(0))
            continue
        except Exception as exc:  # pylint: disable=broad-except
            LOGGER.exception('staging file %s failed', file_id)
            lifecycle.fail_file(file_id, 'internal error while staging ({}: {})'.format(
                type(exc).__name__, exc))
            continue
        if wait is not None:
            _send(task.app, 'stage_file', (file_id, started, 1), countdown=wait)
        if pulled and time.monotonic() - recorded >= RECORD_EVERY:
            _record(task.app, stager, pulled)
            pulled, recorded = [], time.monotonic()
    _record(task.app, stager, pulled)


def _let_go(holdings, file_id):
    """Release a file for the task that retries it (if the database is down too, the
    claim is no longer renewed and lapses)."""
    try:
        holdings.release([file_id])
    except TRANSIENT:
        holdings.finished([file_id])


def _record(app, stager, pulled):
    """Record pulled files as staged; if the database fails, each file goes on as its own
    ``stage_file`` task (which pulls it again)."""
    try:
        stager.mark_staged(pulled)
    except TRANSIENT as exc:
        LOGGER.warning('recording %d staged files failed: %s; retrying them on their own',
                       len(pulled), exc)
        for entry in pulled:
            _send(app, 'stage_file', (entry.file_id, time.time(), 0), countdown=backoff(0))


def stage_file(task, file_id, started=None, attempt=0):
    """Stage one file: stage, wait for disk (polling with back-off), pull, verify."""
    started = started or time.time()
    wait = task.app.runtime().stager.advance(file_id, started, attempt)
    if wait is not None:
        _send(task.app, 'stage_file', (file_id, started, attempt + 1), countdown=wait)


def redrive_stale(task):
    """Re-drive carts that made no progress (every worker also does this on its own)."""
    task.app.runtime().redrive_now()


# (body, what a failure of the task marks error: its first argument is a cart or files)
TASKS = ((stage_cart, 'cart'), (stage_batch, 'files'), (stage_file, 'files'),
         (redrive_stale, None))


def make_app(config=None):
    """The cartd Celery app with its tasks, for ``config`` (None: loaded from the
    environment when first needed, see :class:`~.app.CartApp`)."""
    app = CartApp(config)
    for body, kind in TASKS:
        app.task(body, base=CartTask, bind=True, name=PREFIX + body.__name__,
                 target_kind=kind)
    return app


def app_for(context):
    """The app of a running program (server, WSGI, admin command), built once from its
    loaded config and kept in its context."""
    if 'celery' not in context.extra:
        context.extra['celery'] = make_app(context.config)
    return context.extra['celery']


# What ``celery -A pacifica.cartd.tasks`` finds. Building it reads no configuration.
app = make_app()

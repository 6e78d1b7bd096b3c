"""Cartd's configuration keys (``$CARTD_CONFIG`` or ``~/.pacifica-cartd/config.ini``).

The upstream keys keep their names, env vars and defaults, except ``celery.broker_url``: when
it is empty (the default here) the broker is kombu's filesystem transport under
``celery.filesystem_dir``, so a single machine needs no broker software. The keys marked
*new* have no upstream counterpart; they bound what upstream left unbounded.
"""
import os

from pacifica.common.config import DATABASE_KEYS, Key, server_keys

CARTD_KEYS = (
    Key('cartd', 'transfer_size', '4 Mb', 'TRANSFER_SIZE', 'size',
        help='chunk size for archive reads and the tar stream ("<number> <unit>")'),
    Key('cartd', 'volume_path', '~/.pacifica-cartd/volume', 'VOLUME_PATH',
        help='directory holding the staged carts, private to cartd\'s user (created 0700; '
             'a directory others can write to is refused; upstream default /tmp/)'),
    Key('cartd', 'lru_buffer_time', '3600', 'LRU_BUFFER_TIME', 'int',
        help='seconds since its last use during which a finished cart is never purged for '
             'space (upstream default 0)'),
    Key('cartd', 'lru_purge', 'on', 'LRU_PURGE', 'bool',
        help='delete least recently used ready carts when the volume is full'),
    Key('cartd', 'bundle_task', 'off', 'BUNDLE_TASK', 'bool',
        help='default of the POST "bundle" flag: pre-build a .tar on disk'),
    Key('cartd', 'poll_max_wait', '21600', 'POLL_MAX_WAIT', 'int',
        help='new: seconds to wait for a file to reach disk in the archive before failing it'),
    Key('cartd', 'task_retries', '5', 'TASK_RETRIES', 'int',
        help='new: retries (with exponential back-off) of a transient archive or database '
             'failure before the file is marked error'),
    Key('cartd', 'redrive_after', '600', 'REDRIVE_AFTER', 'int',
        help='new: seconds without progress after which a staging cart is handed to the '
             'workers again: the last resort when its tasks were lost before any worker '
             'claimed its files (see claim_timeout)'),
    Key('cartd', 'claim_timeout', '10', 'CLAIM_TIMEOUT', 'int',
        help='new: seconds after which the files a worker claimed (and stopped renewing: it '
             'died) are handed to another worker; workers renew every quarter of this'),
    Key('archiveinterface', 'url', 'http://127.0.0.1:8080/', 'ARCHIVE_INTERFACE_URL',
        help='archive interface base URL (a missing trailing slash is added)'),
    Key('archiveinterface', 'timeout', '60', 'ARCHIVE_INTERFACE_TIMEOUT', 'float',
        help='new: seconds to wait for the archive to answer (connect and each read)'),
    Key('celery', 'broker_url', '', 'BROKER_URL',
        help='Celery broker (pyamqp://, redis://); empty: the filesystem broker'),
    Key('celery', 'backend_url', '', 'BACKEND_URL',
        help='Celery result backend; empty: none (cartd keeps its state in the database)'),
    Key('celery', 'task_queue', 'celery', 'CELERY_TASK_QUEUE',
        help='new: queue the cart tasks go to (one per cartd instance sharing a broker)'),
    Key('celery', 'filesystem_dir', '', 'CELERY_FILESYSTEM_DIR',
        help='new: queue directory of the filesystem broker; default $PACIFICA_HOME/celery '
             'or ./.pacifica/celery'),
)

# The largest cart cartd accepts, 100 000 files at some 150 bytes of JSON each, is 15 MB.
KEYS = CARTD_KEYS + DATABASE_KEYS + server_keys('CARTD', '16 Mb')


def filesystem_broker_dir(config):
    """Where the embedded broker keeps its queue (absolute, so server and worker agree)."""
    folder = config.get('celery', 'filesystem_dir')
    if not folder:
        home = os.environ.get('PACIFICA_HOME') or '.pacifica'
        folder = os.path.join(home, 'celery')
    return os.path.abspath(folder)

"""Cartd described for the shared programs in :mod:`pacifica.common.cli`."""

from pacifica.common.cli import Service, StartupError
from pacifica.common.operations import Check, Probes, directory_check, http_check

from . import tasks, volume
from .admin import COMMANDS
from .config import KEYS
from .orm import DB, CartSchema
from .rest import make_root


def _on_start(context):
    """Build the Celery app from this config and make sure the volume exists."""
    try:
        volume.prepare_root(context.config.get('cartd', 'volume_path'))
    except volume.UnsafeVolume as exc:
        raise StartupError(str(exc)) from None
    tasks.app_for(context)


def _broker_probe(context):
    """The Celery broker accepts a connection (the filesystem one: its queue is writable)."""
    def probe():
        settings = tasks.celery_settings(context.config)
        if 'broker_transport_options' in settings:
            return directory_check('broker', settings['broker_transport_options'][
                'data_folder_in']).probe()
        with tasks.app_for(context).connection_for_write() as conn:
            conn.ensure_connection(max_retries=0, timeout=1)
        return None
    return probe


def _ready_checks(context):
    """Besides the database: the broker, the archive and the cart volume."""
    return (Check('broker', _broker_probe(context)),
            http_check('archive', context.config.get('archiveinterface', 'url')),
            directory_check('volume', volume.root_path(context.config.get('cartd',
                                                                          'volume_path'))))


def _cart_gauges(_context):
    """Carts that are not deleted, by state, read from the database at each scrape."""
    from pacifica.common.database import peewee  # pylint: disable=import-outside-toplevel
    from .orm import BUNDLING, DB, ERROR, READY, STAGING, WAITING, Cart  # pylint: disable=import-outside-toplevel
    counts = dict.fromkeys((str(s) for s in (WAITING, STAGING, BUNDLING, READY, ERROR)), 0)
    with DB.connection_context():
        rows = (Cart.select(Cart.status, peewee.fn.COUNT(Cart.id))
                .where(Cart.deleted_date.is_null()).group_by(Cart.status).tuples())
        counts.update((str(status), count) for status, count in rows)
    return [('pacifica_cartd_carts', {'state': state}, count) for state, count in counts.items()]


SERVICE = Service(
    name='cartd',
    title='Cartd Interface',
    port=8081,
    address='127.0.0.1',
    make_root=make_root,
    keys=KEYS,
    db_proxy=DB,
    schema=CartSchema,
    admin_commands=COMMANDS,
    on_start=_on_start,
    operations=Probes(checks=_ready_checks, gauges=_cart_gauges),
)

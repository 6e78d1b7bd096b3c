"""Cartd described for the shared programs in :mod:`pacifica.common.cli`."""
import os

from pacifica.common.cli import Service, StartupError

from .admin import COMMANDS
from .config import KEYS
from .orm import DB, CartSchema
from .rest import make_root


def _on_start(context):
    """Point the Celery app at this config and make sure the volume exists."""
    from . import tasks  # pylint: disable=import-outside-toplevel
    volume = context.config.get('cartd', 'volume_path')
    try:
        os.makedirs(volume, exist_ok=True)
    except OSError as exc:
        raise StartupError('cannot create the cart volume {}: {}'.format(volume, exc)) from None
    tasks.configure(context.config, create_dirs=True)


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
)

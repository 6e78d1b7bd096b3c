"""Metadata described for the shared programs in :mod:`pacifica.common.cli`."""
from pacifica.common.cli import Service

from .admin import ADMIN_COMMANDS
from .config import KEYS
from .orm import DB
from .orm.schema import MetadataSchema
from .rest import make_root

SERVICE = Service(
    name='metadata',
    title='Metadata',
    port=8121,
    make_root=make_root,
    keys=KEYS,
    db_proxy=DB,
    schema=MetadataSchema,
    admin_commands=ADMIN_COMMANDS,
    body_limits=(('/ingest', 'max_ingest_body'),),   # upload documents of many files
)

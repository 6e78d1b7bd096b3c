"""UniqueID described for the shared programs in :mod:`pacifica.common.cli`."""
from pacifica.common.cli import Service

from .config import KEYS
from .fastpath import install
from .orm import DB, UniqueIDSchema
from .rest import make_root

SERVICE = Service(
    name='uniqueid',
    title='UniqueID',
    port=8051,
    make_root=make_root,
    keys=KEYS,
    db_proxy=DB,
    schema=UniqueIDSchema,
    fast_path=install,   # GET /getid without CherryPy's request machinery
)

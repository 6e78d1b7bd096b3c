"""The proxy described for the shared programs in :mod:`pacifica.common.cli`."""
from pacifica.common.cli import Service
from pacifica.common.operations import Probes, http_check

from .config import KEYS
from .fetch import wait_for_metadata
from .rest import make_root


def wait_for_peers(context):
    """At CLI start-up, wait for metadata as ``metadata.status_*`` say (WSGI never waits)."""
    conf = context.config
    try:
        wait_for_metadata(conf.get('metadata', 'status_url'),
                          conf.get('metadata', 'status_attempts'),
                          conf.get('metadata', 'status_wait'))
    except Exception as exc:  # pylint: disable=broad-except
        from pacifica.common.cli import StartupError  # pylint: disable=import-outside-toplevel
        raise StartupError('metadata at {} is not answering: {}'.format(
            conf.get('metadata', 'status_url'), exc)) from None


def _ready_checks(context):
    """Metadata (its status URL) and the archive answer."""
    conf = context.config
    return (http_check('metadata', conf.get('metadata', 'status_url')),
            http_check('archive', conf.get('archiveinterface', 'url')))


SERVICE = Service(
    name='proxy',
    title='Proxy',
    port=8180,
    make_root=make_root,
    keys=KEYS,
    wait_for_dependencies=wait_for_peers,
    operations=Probes(checks=_ready_checks),
)

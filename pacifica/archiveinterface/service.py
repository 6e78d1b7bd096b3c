"""The archive interface described for the shared programs in :mod:`pacifica.common.cli`.

It has no database. Besides the shared flags it keeps upstream's spellings:
``--cherrypy-config`` (same as ``--cpconfig``), ``-t/--type`` and ``--prefix``, and adds
``--staging-root`` for PATCH.
"""
import os
import sys

from pacifica.common.cli import AdminCommand, Service, StartupError
from pacifica.common.errors import ServiceError
from pacifica.common.operations import Probes, directory_check

from .backend import PosixBackend
from .config import BACKEND_TYPES, KEYS
from .rest import make_root


def _backend_args(parser):
    """``-t/--type`` and ``--prefix``: upstream's spellings, for the server and the admin."""
    parser.add_argument('-t', '--type', dest='backend_type', default=None,
                        choices=BACKEND_TYPES,
                        help='backend type (default [backend] type, $PAI_BACKEND_TYPE or posix; '
                             'only posix is implemented)')
    parser.add_argument('--prefix', default=None,
                        help='archive root directory (default [posix] prefix, $PAI_PREFIX '
                             'or /tmp)')


def _extra_args(parser):
    parser.add_argument('--cherrypy-config', dest='cpconfig', default=None,
                        help='same as --cpconfig (the upstream spelling)')
    _backend_args(parser)
    parser.add_argument('--staging-root', default=None,
                        help='directory PATCH may move files from (default [posix] '
                             'staging_root or $PAI_STAGING_ROOT; unset disables PATCH)')


def _option(context, attr, section, name):
    value = getattr(context.args, attr, None) if context.args is not None else None
    return value if value is not None else context.config.get(section, name)


def backend(context):
    """The storage backend the flags and config of ``context`` name (StartupError if not)."""
    kind = _option(context, 'backend_type', 'backend', 'type')
    if kind != 'posix':
        raise StartupError('backend type {!r} is not available: this archive interface '
                           'implements only posix'.format(kind))
    prefix = _option(context, 'prefix', 'posix', 'prefix')
    staging = _option(context, 'staging_root', 'posix', 'staging_root')
    try:
        os.makedirs(prefix, exist_ok=True)
    except OSError as exc:
        raise StartupError('cannot create the archive root {}: {}'.format(prefix, exc)) from None
    if staging and not os.path.isdir(staging):
        raise StartupError('the staging root {} is not a directory'.format(staging))
    return PosixBackend(prefix, context.config.get('posix', 'use_id2filename'), staging)


def _on_start(context):
    """Build the backend and the server settings an archive needs."""
    import cherrypy  # pylint: disable=import-outside-toplevel

    context.extra['backend'] = backend(context)
    # Long transfers (uploads of any size and their timeouts: the [server] keys). A cpconfig
    # file may still change this.
    cherrypy.config.update({'response.timeout': 3600})
    print('Pacifica Archive Interface Up and Running', flush=True)


def _delete(context, args):
    """Remove each id through the backend; one line per failure and exit 1 if any failed."""
    store = backend(context)
    code = 0
    for fileid in args.files:
        try:
            store.delete(fileid)
        except ServiceError as exc:
            print('pacifica-archiveinterface-cmd: {}'.format(exc), file=sys.stderr)
            code = 1
    return code


def _delete_args(parser):
    parser.add_argument('files', nargs='+', metavar='FILE', help='file ids')


def _ready_checks(context):
    """The archive root is a directory this process can write to."""
    return (directory_check('archive', context.extra['backend'].prefix),)


SERVICE = Service(
    name='archiveinterface',
    title='Archive Interface',
    port=8080,
    address='localhost',
    make_root=make_root,
    keys=KEYS,
    on_start=_on_start,
    extra_server_args=_extra_args,
    extra_admin_args=_backend_args,
    admin_commands=(AdminCommand('delete', 'remove files from the archive', _delete,
                                 _delete_args, needs_database=False),),
    operations=Probes(checks=_ready_checks),
)

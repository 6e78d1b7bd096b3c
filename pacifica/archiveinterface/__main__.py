"""``pacifica-archiveinterface`` (the server, default port 8080) and
``pacifica-archiveinterface-cmd`` (``delete FILE...``)."""
import argparse
import sys

from pacifica.common import cli
from pacifica.common import config as cfg

from .backend import ArchiveError, PosixBackend
from .config import BACKEND_TYPES, KEYS
from .service import SERVICE


def main(argv=None):
    """Serve the archive interface with CherryPy."""
    return cli.server_main(SERVICE, argv)


def cmd(argv=None):
    """``pacifica-archiveinterface-cmd [-c CONFIG] [-t TYPE] [--prefix P] delete FILE...``:
    remove files through the backend; exit 1 (one line per failure) if any could not be."""
    parser = argparse.ArgumentParser(prog='pacifica-archiveinterface-cmd',
                                     description='Administer the archive interface.')
    parser.add_argument('-c', '--config', default=None,
                        help='service INI file; default $ARCHIVEINTERFACE_CONFIG or '
                             '~/.pacifica-archiveinterface/config.ini')
    parser.add_argument('-t', '--type', dest='backend_type', default=None, choices=BACKEND_TYPES)
    parser.add_argument('--prefix', default=None, help='archive root directory')
    subs = parser.add_subparsers(dest='command', metavar='{delete}')
    delete = subs.add_parser('delete', help='remove files from the archive')
    delete.add_argument('files', nargs='+', metavar='FILE', help='file ids')
    args = parser.parse_args(argv)
    if args.command != 'delete':
        parser.print_usage(sys.stderr)
        print('{}: error: a subcommand is required'.format(parser.prog), file=sys.stderr)
        return 2
    try:
        config = cfg.load(KEYS, args.config or SERVICE.default_config())
    except cfg.ConfigError as exc:
        print('{}: {}'.format(parser.prog, exc), file=sys.stderr)
        return 1
    kind = args.backend_type or config.get('backend', 'type')
    if kind != 'posix':
        print('{}: backend type {!r} is not available (only posix)'.format(parser.prog, kind),
              file=sys.stderr)
        return 1
    backend = PosixBackend(args.prefix or config.get('posix', 'prefix'),
                           config.get('posix', 'use_id2filename'))
    code = 0
    for fileid in args.files:
        try:
            backend.delete(fileid)
        except ArchiveError as exc:
            print('{}: {}'.format(parser.prog, exc), file=sys.stderr)
            code = 1
    return code


if __name__ == '__main__':
    sys.exit(main())

"""``pacifica-archiveinterface`` (the server, default port 8080) and
``pacifica-archiveinterface-cmd [-c CONFIG] [-t TYPE] [--prefix P] delete FILE...``."""
import sys

from pacifica.common import cli

from .service import SERVICE


def main(argv=None):
    """Serve the archive interface with CherryPy."""
    return cli.server_main(SERVICE, argv)


def cmd(argv=None):
    """Remove files through the backend; exit 1 (one line per failure) if any could not be."""
    return cli.admin_main(SERVICE, argv)


if __name__ == '__main__':
    sys.exit(main())

"""``pacifica-uniqueid`` (the server) and ``pacifica-uniqueid-cmd`` (admin)."""
import sys

from pacifica.common import cli

from .service import SERVICE


def main(argv=None):
    """Serve UniqueID with CherryPy."""
    return cli.server_main(SERVICE, argv)


def cmd(argv=None):
    """``dbsync`` and ``dbchk [--equal]``."""
    return cli.admin_main(SERVICE, argv)


if __name__ == '__main__':
    sys.exit(main())

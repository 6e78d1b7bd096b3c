"""``pacifica-cartd`` (the server) and ``pacifica-cartd-cmd`` (admin)."""
import sys

from pacifica.common import cli

from .service import SERVICE


def main(argv=None):
    """Serve cartd with CherryPy (default port 8081)."""
    return cli.server_main(SERVICE, argv)


def cmd(argv=None):
    """``dbsync``, ``dbchk [--equal]``, ``fixit --cartid UID...``, ``purge``, ``dump``."""
    return cli.admin_main(SERVICE, argv)


if __name__ == '__main__':
    sys.exit(main())

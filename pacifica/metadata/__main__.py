"""``pacifica-metadata`` (the server) and ``pacifica-metadata-cmd`` (admin)."""
import sys

from pacifica.common import cli

from .service import SERVICE


def main(argv=None):
    """Serve the metadata API with CherryPy."""
    return cli.server_main(SERVICE, argv)


def cmd(argv=None):
    """``dbsync``, ``dbchk [--equal]``, ``create_table``, ``render``, ``delete_obj``."""
    return cli.admin_main(SERVICE, argv)


if __name__ == '__main__':
    sys.exit(main())

"""``pacifica-proxy``: serve archived files by hash with CherryPy."""
import sys

from pacifica.common import cli

from .service import SERVICE


def main(argv=None):
    """Serve the proxy (``argv`` defaults to ``sys.argv[1:]``; upstream parsed argv[0] too)."""
    return cli.server_main(SERVICE, argv)


if __name__ == '__main__':
    sys.exit(main())

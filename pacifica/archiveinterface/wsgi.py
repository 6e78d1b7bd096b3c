"""``uwsgi --http-socket :8080 --master -p 4 --module pacifica.archiveinterface.wsgi``.

The root comes from ``PAI_PREFIX`` (or ``[posix] prefix`` in ``$ARCHIVEINTERFACE_CONFIG``), the
backend type from ``PAI_BACKEND_TYPE``, the CherryPy config from ``ARCHIVEINTERFACE_CPCONFIG``.
Several worker processes are safe: every request opens its own file handle.
"""
from pacifica.common.cli import wsgi_application

from .service import SERVICE

application = wsgi_application(SERVICE)

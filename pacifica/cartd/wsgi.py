"""``uwsgi --http-socket :8081 --master -p 4 --module pacifica.cartd.wsgi``.

Config from ``CARTD_CONFIG``, CherryPy config from ``CARTD_CPCONFIG``. Run
``pacifica-cartd-cmd dbsync`` first; the schema is not checked here (as upstream).
"""
from pacifica.common.cli import wsgi_application

from .service import SERVICE

application = wsgi_application(SERVICE)

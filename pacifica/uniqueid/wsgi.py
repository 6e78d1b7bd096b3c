"""``uwsgi --http-socket :8051 --master -p 4 --module pacifica.uniqueid.wsgi``.

Several worker processes are safe: every allocation is one atomic database statement.
"""
from pacifica.common.cli import wsgi_application

from .service import SERVICE

application = wsgi_application(SERVICE)

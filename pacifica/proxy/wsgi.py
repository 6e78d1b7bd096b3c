"""``uwsgi --http-socket :8180 --master -p 4 --module pacifica.proxy.wsgi``.

The WSGI module does not wait for metadata (the CLI does)."""
from pacifica.common.cli import wsgi_application

from .service import SERVICE

application = wsgi_application(SERVICE)

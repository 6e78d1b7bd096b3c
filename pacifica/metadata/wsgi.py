"""``uwsgi --http-socket :8121 --master -p 4 --module pacifica.metadata.wsgi``.

Run ``pacifica-metadata-cmd dbsync`` first; as upstream, the schema is not checked here.
"""
from pacifica.common.cli import wsgi_application

from .service import SERVICE

application = wsgi_application(SERVICE)

#!/usr/bin/env python3
"""The HTTP floor under UniqueID: the same allocation with CherryPy's request machinery
taken away. An experiment, not a way to run the service.

It serves ``GET /`` and ``GET /getid?range=N&mode=M`` (well-formed requests only, no error
pages, no access log) from a bare cheroot WSGI server with 10 threads, calling the service's
own :func:`pacifica.uniqueid.allocate.allocate` on a pooled connection. Load it with the
service benchmark to see how the two UniqueID targets move when HTTP gets cheaper:

    python benchmarks/uniqueid_floor.py 18132 postgresql://postgres@127.0.0.1/uq_floor &
    python benchmarks/uniqueid.py --url http://127.0.0.1:18132 \\
        --pgbench postgresql://postgres@127.0.0.1/uq_floor --clients 8

The database must exist and carry the schema (``pacifica-uniqueid-cmd dbsync``).
"""
import json
import sys
from urllib.parse import parse_qs

from cheroot import wsgi

from pacifica.common.database import open_database
from pacifica.uniqueid.allocate import allocate
from pacifica.uniqueid.orm import DB

STATUS = json.dumps({'message': 'Pacifica UniqueID Up and Running'}).encode()
HEADERS = [('Content-Type', 'application/json'), ('Cache-Control', 'no-store')]


def application(environ, start_response):
    """``/`` and ``/getid``; anything else is a bare 404."""
    path = environ['PATH_INFO']
    if path == '/':
        body = STATUS
    elif path == '/getid':
        query = parse_qs(environ['QUERY_STRING'])
        try:
            start, end = allocate(query['mode'][0], int(query['range'][0]))
        finally:
            DB.close()   # back to the pool, as the service's request tool does
        body = json.dumps({'startIndex': start, 'endIndex': end}).encode()
    else:
        start_response('404 Not Found', [('Content-Length', '0')])
        return [b'']
    start_response('200 OK', HEADERS + [('Content-Length', str(len(body)))])
    return [body]


def main():
    port, url = int(sys.argv[1]), sys.argv[2]
    DB.initialize(open_database(url))
    server = wsgi.Server(('127.0.0.1', port), application, numthreads=10)
    try:
        server.start()
    except KeyboardInterrupt:
        server.stop()


if __name__ == '__main__':
    main()

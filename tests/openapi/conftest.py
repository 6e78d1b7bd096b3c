"""One running suite (all five services, real peers and a Celery worker) shared by the
OpenAPI tests: on SQLite and the filesystem broker, and on PostgreSQL and RabbitMQ when
PACIFICA_TEST_POSTGRES and PACIFICA_TEST_BROKER are set."""
import os

import pytest

from support import (BROKER_URL, POSTGRES_URL, create_postgres_database,
                     drop_postgres_database, free_port_offset)
from test_suite import start_suite, stop_suite

# Every service and its documented port (the suite moves them all by one offset).
PORTS = {'archiveinterface': 8080, 'uniqueid': 8051, 'metadata': 8121, 'cartd': 8081,
         'proxy': 8180}


@pytest.fixture(scope='package', params=['embedded', 'postgresql+rabbitmq'])
def suite(request, tmp_path_factory):
    """``{service: base URL}`` of a running suite."""
    home = tmp_path_factory.mktemp('openapi') / 'state'
    offset = free_port_offset()
    args, database = [], None
    if request.param != 'embedded':
        if not (POSTGRES_URL and BROKER_URL):
            pytest.skip('PACIFICA_TEST_POSTGRES and PACIFICA_TEST_BROKER are not both set')
        database = create_postgres_database('pacifica_oa')
        args = ['--database', database, '--broker', BROKER_URL]
        os.environ['CELERY_TASK_QUEUE'] = 'oa_' + os.path.basename(database)
    try:
        proc, _banner = start_suite(home, offset, *args)
        try:
            yield {name: 'http://127.0.0.1:{}'.format(port + offset)
                   for name, port in PORTS.items()}
        finally:
            stop_suite(proc, home, offset)
    finally:
        os.environ.pop('CELERY_TASK_QUEUE', None)
        if database:
            drop_postgres_database(database)

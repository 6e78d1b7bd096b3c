"""A real archive interface process per test module."""
import pytest

from support import service_env, start_service


@pytest.fixture(scope='module')
def archive(tmp_path_factory):
    """An archive interface with its root and PATCH staging root in a fresh directory."""
    base = tmp_path_factory.mktemp('archive')
    (base / 'root').mkdir()
    (base / 'staging').mkdir()
    env = service_env(base, 'archiveinterface')
    server = start_service('pacifica.archiveinterface', base, env,
                           ['--prefix', str(base / 'root'),
                            '--staging-root', str(base / 'staging')])
    server.base = base
    server.root = base / 'root'
    server.staging = base / 'staging'
    yield server
    server.stop()

"""One real uniqueid server per test module and database backend."""
import pytest

from support import run_admin, service_env, start_service


@pytest.fixture(scope='module')
def server(module_db_url, tmp_path_factory):
    """A uniqueid server on a synced database (SQLite, and PostgreSQL when configured);
    ``server.db_url`` is its database."""
    tmp = tmp_path_factory.mktemp('uniqueid')
    env = service_env(tmp, 'uniqueid', PEEWEE_URL=module_db_url)
    done = run_admin('pacifica.uniqueid', ['dbsync'], env, cwd=str(tmp))
    assert done.returncode == 0, done.stderr
    srv = start_service('pacifica.uniqueid', tmp, env)
    srv.db_url = module_db_url
    yield srv
    srv.stop()

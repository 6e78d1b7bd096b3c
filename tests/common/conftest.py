"""The five services, started once for the framing, slow-client and outage tests."""
import pytest

from common.fleet import start_fleet, stop_fleet


@pytest.fixture(scope='session')
def fleet(tmp_path_factory):
    """``{service name: Server}``: every service as its CLI starts it (see common.fleet)."""
    servers = start_fleet(tmp_path_factory.mktemp('fleet'))
    yield servers
    stop_fleet(servers)

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import upy` from tests
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"


@pytest.fixture(scope="session")
def pg_cluster():
    """One throwaway PostgreSQL cluster per session, with a migrated template database."""
    from databases import TEMPLATE
    from pgcluster import Cluster
    from gateway.store import Store
    cluster = Cluster().start()
    Store(cluster.create(TEMPLATE)).close()   # migrated once
    yield cluster
    cluster.remove()


# module scope: a module's fixtures on a backend (test_console's site) are made once per
# backend, and the tests of each backend run together
@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def backend(request):
    return request.param


def _targets(request, backend, folder):
    from databases import Targets
    cluster = request.getfixturevalue("pg_cluster") if backend == "postgresql" else None
    return Targets(cluster, folder)


@pytest.fixture
def db(request, backend, tmp_path):
    """`db(name)`: a Store target on each backend (tests/databases.py): a test that takes it
    runs on SQLite and on PostgreSQL."""
    targets = _targets(request, backend, tmp_path)
    yield targets
    targets.drop()


@pytest.fixture(scope="module")
def module_db(request, backend, tmp_path_factory):
    """db for a module-scoped fixture: one set of databases per backend and module."""
    targets = _targets(request, backend, tmp_path_factory.mktemp("db"))
    yield targets
    targets.drop()


@pytest.fixture
def broker_factory(tmp_path_factory):
    """Start real mosquitto brokers (host_tools/broker.py); all stopped at teardown."""
    from host_tools.broker import Broker
    made = []

    def make(**kw):
        b = Broker(tmp_path_factory.mktemp("mosquitto"), **kw)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()


@pytest.fixture(scope="session")
def tls_ca(tmp_path_factory):
    """A certificate authority made for this test run, and the broker's certificate from it
    (host_tools/tlsca.py): Broker(tls=tls_ca), Fleet(ca=tls_ca.ca), Ingest(ca=tls_ca.ca)."""
    from host_tools.tlsca import CA
    return CA(tmp_path_factory.mktemp("ca"))


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

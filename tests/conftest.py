import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))  # `import upy` from tests
REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "artifacts"


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


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS

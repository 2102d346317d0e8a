"""Tests' access to the real mosquitto launcher (host_tools/broker.py) and a fixture.

    from broker import Broker, free_port
    from broker import broker_factory   # noqa: F401  (makes the fixture visible to the module)
    def test_x(broker_factory):          # every broker it made is stopped at teardown
        b = broker_factory(users={...}, acl=...)
"""
import pytest

from host_tools.broker import Broker, free_port, write_passwd  # noqa: F401


@pytest.fixture
def broker_factory(tmp_path_factory):
    made = []

    def make(**kw):
        b = Broker(tmp_path_factory.mktemp("mosquitto"), **kw)
        made.append(b)
        return b.start()

    yield make
    for b in made:
        b.stop()

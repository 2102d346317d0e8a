"""Tests' names for the real mosquitto launcher (host_tools/broker.py); the
`broker_factory` fixture lives in tests/conftest.py.

    from broker import Broker, free_port
"""
from host_tools.broker import Broker, free_port, write_passwd

__all__ = ["Broker", "free_port", "write_passwd"]

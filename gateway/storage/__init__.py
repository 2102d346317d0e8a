"""The parts of the gateway's store, one job each (gateway/store.py assembles them;
docs/gateway.md "Storage and migrations")."""

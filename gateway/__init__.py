"""Gateway: ingest, storage, aggregation, token vending and the API for a fleet of prepaid meters."""

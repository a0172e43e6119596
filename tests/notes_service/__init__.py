"""A small test-only service that exercises the shared libraries end to end: server bootstrap, auth,
validation, error mapping, per-line schemas, outbox, relay and idempotent consumer. Not a product."""

-- The relay waits for new rows instead of polling for them: every statement that adds outbox rows tells
-- the schema's relay, on a channel of the schema's own, when its transaction commits (Postgres sends a
-- transaction's identical notifications once). The relay still looks now and then without one (rows whose
-- retry is due, a notification missed while it reconnected).
-- depends: events_0002_outbox_retry_and_key_order

CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- A channel name holds at most 63 bytes; the relay cuts its own the same way.
    PERFORM pg_notify(left('outbox:' || TG_TABLE_SCHEMA, 63), '');
    RETURN NULL;
END
$$;

CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

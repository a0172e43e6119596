-- Outbox and inbox of libs/events, applied to every schema that publishes or consumes events.
-- depends:

-- Events waiting for the relay. Rows are appended in the same transaction as the state change they
-- describe; the relay publishes them in id order and deletes each row once Kafka acknowledged it.
-- A row that keeps failing (a topic that does not exist, say) is parked after `attempts` tries, with its
-- error, for an operator: it no longer holds back the rows behind it.
CREATE TABLE outbox (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id   uuid        NOT NULL UNIQUE,
    topic      text        NOT NULL,
    key        text        NOT NULL,
    event_type text        NOT NULL,
    payload    bytea       NOT NULL,              -- serialized pingou.events.v1.EventEnvelope
    headers    jsonb       NOT NULL DEFAULT '{}', -- trace context, as Kafka headers
    created_at timestamptz NOT NULL DEFAULT now(),
    attempts   integer     NOT NULL DEFAULT 0,
    last_error text,
    parked_at  timestamptz
);

-- The relay only ever scans what is left to publish.
CREATE INDEX outbox_pending ON outbox (id) WHERE parked_at IS NULL;

-- Events whose effect is already applied, written in the effect's transaction: a redelivered event
-- finds its row and is skipped. Rows older than the topics' retention can no longer be redelivered
-- and are purged.
CREATE TABLE inbox (
    consumer   text        NOT NULL,
    event_id   uuid        NOT NULL,
    topic      text        NOT NULL,
    partition  integer     NOT NULL,
    "offset"   bigint      NOT NULL,
    handled_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE INDEX inbox_by_age ON inbox (handled_at);

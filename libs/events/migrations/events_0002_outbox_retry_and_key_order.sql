-- Issue 11: no event parked forever, and none overtaken. A delivery that fails transiently (no leader, a
-- timeout, the broker away) is retried for as long as the failure lasts: `retry_at` is when the row may be
-- tried again, and `attempts` / `last_error` only tell operators what happened. Only a permanent refusal
-- (the record too large, the topic refusing it) sets the row aside (`parked_at`) until an operator
-- replays it (`python -m libs.events replay`). Either way the later rows of the same topic and key wait
-- behind it, so one aggregate's events stay in order.
-- depends: events_0001_outbox_inbox

ALTER TABLE outbox ADD COLUMN retry_at timestamptz;

-- The rows that hold back the rest of their key. There are few (usually none), so the relay's check of
-- each row it fetches against them reads this small index, not the outbox.
CREATE INDEX outbox_held ON outbox (topic, key, id) WHERE parked_at IS NOT NULL OR retry_at IS NOT NULL;

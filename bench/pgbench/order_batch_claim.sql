-- The inbox claim of a polled batch of 50 SeatHeld events (`_CLAIM_MANY`, libs/events/consumer.py):
-- bench/ceilings.py puts it between BEGIN and join_order.sql's handler statements, once per event
-- (event n's join is :join || '-n'), and COMMIT: what the order service commits for such a batch.
INSERT INTO order_pingou.inbox (consumer, event_id, topic, partition, "offset")
SELECT 'order-group-outcomes', e.event_id, e.topic, e.partition, e.position
FROM unnest(ARRAY(SELECT md5('seat-held-' || :join || '-' || n)::uuid FROM generate_series(1, 50) AS n)::uuid[],
    array_fill('pingou.groupbuy.v1'::text, ARRAY[50])::text[], array_fill(:partition::int, ARRAY[50])::int[],
    ARRAY(SELECT :join::bigint + n FROM generate_series(1, 50) AS n)::bigint[]) AS e(event_id, topic, partition, position)
ON CONFLICT DO NOTHING RETURNING event_id;

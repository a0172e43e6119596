-- order's part of one JoinGroup: what the order service commits for the seat's SeatHeld, one event in
-- its own transaction (the idempotent consumer's `_apply`, libs/events/consumer.py, with the handler of
-- services/order/entrypoints/group_events.py): the inbox claim (`_CLAIM`), `place_seat_order`
-- (services/order/service_layer/orders.py) placing the order and its item in one statement (`add_order`)
-- and then looking the group up among the failed ones (`group_has_failed`), and the OrderPlaced outbox
-- row (~492-byte envelope) the unit of work appends just before COMMIT. No idempotency key, no stock:
-- the seat's unit came from groupbuy's allotment, and the order id (groupbuy's $17) names the order.
-- The consumer applies a polled batch in one transaction: bench/ceilings.py builds that script too.
BEGIN;
INSERT INTO order_pingou.inbox (consumer, event_id, topic, partition, "offset")
VALUES ('order-group-outcomes', md5('seat-held-' || :join)::uuid, 'pingou.groupbuy.v1', :partition, :join)
ON CONFLICT DO NOTHING RETURNING true;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join), 1, 26), 'u-' || :join, 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join)::uuid::text, false,
        now() + interval '1 day', NULL, now(), now())
    ON CONFLICT (order_id) DO NOTHING RETURNING order_id
), items AS (
    INSERT INTO order_pingou.order_items (order_id, sku_id, quantity, unit_price_minor, list_price_minor, plus_price)
    SELECT placed.order_id, item.* FROM placed,
        unnest(ARRAY['sku-' || :sku]::text[], ARRAY[1]::integer[], ARRAY[1990]::bigint[], ARRAY[1990]::bigint[],
        ARRAY[false]::boolean[]) AS item
)
SELECT count(*) > 0 FROM placed;
SELECT true FROM order_pingou.failed_groups WHERE group_id = md5('group-' || :sku || '-' || :grp)::uuid::text;
INSERT INTO order_pingou.outbox (event_id, topic, key, event_type, payload, headers)
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join)::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
COMMIT;

-- What the order service commits for a polled batch of 50 SeatHeld events (one partition's), as the
-- idempotent consumer applies them (`_apply_together`, libs/events/consumer.py): one transaction, one
-- inbox claim for all of them (`_CLAIM_MANY`), then each event's handler in turn on the same connection:
-- the statements of join_order.sql after its claim, once per event (event n's join is :join || '-n').
-- One pgbench transaction is 50 events: per event, divide the latency by 50 and multiply the tps by 50.
-- tests/integration/test_pgbench_ceiling.py checks that this is join_order.sql's handler, 50 times.
-- Needs -D skus=N: orders spread over sku-1 .. sku-N (setup.sql seeds 8; 1 makes one SKU hot).
\set sku random(1, :skus)
\set grp random(1, 10000)
\set join :client_id * 1000000000000000 + random(0, 999999999999999)
\set bucket random(0, 7)
\set partition :grp % 3
BEGIN;
INSERT INTO order_pingou.inbox (consumer, event_id, topic, partition, "offset")
SELECT 'order-group-outcomes', e.event_id, e.topic, e.partition, e.position
FROM unnest(ARRAY(SELECT md5('seat-held-' || :join || '-' || n)::uuid FROM generate_series(1, 50) AS n)::uuid[],
    array_fill('pingou.groupbuy.v1'::text, ARRAY[50])::text[], array_fill(:partition::int, ARRAY[50])::int[],
    ARRAY(SELECT :join::bigint + n FROM generate_series(1, 50) AS n)::bigint[]) AS e(event_id, topic, partition, position)
ON CONFLICT DO NOTHING RETURNING event_id;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-1'), 1, 26), 'u-' || :join || '-1', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-1')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-1')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-1'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-2'), 1, 26), 'u-' || :join || '-2', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-2')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-2')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-2'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-3'), 1, 26), 'u-' || :join || '-3', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-3')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-3')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-3'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-4'), 1, 26), 'u-' || :join || '-4', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-4')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-4')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-4'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-5'), 1, 26), 'u-' || :join || '-5', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-5')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-5')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-5'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-6'), 1, 26), 'u-' || :join || '-6', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-6')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-6')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-6'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-7'), 1, 26), 'u-' || :join || '-7', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-7')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-7')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-7'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-8'), 1, 26), 'u-' || :join || '-8', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-8')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-8')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-8'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-9'), 1, 26), 'u-' || :join || '-9', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-9')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-9')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-9'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-10'), 1, 26), 'u-' || :join || '-10', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-10')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-10')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-10'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-11'), 1, 26), 'u-' || :join || '-11', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-11')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-11')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-11'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-12'), 1, 26), 'u-' || :join || '-12', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-12')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-12')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-12'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-13'), 1, 26), 'u-' || :join || '-13', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-13')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-13')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-13'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-14'), 1, 26), 'u-' || :join || '-14', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-14')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-14')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-14'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-15'), 1, 26), 'u-' || :join || '-15', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-15')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-15')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-15'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-16'), 1, 26), 'u-' || :join || '-16', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-16')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-16')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-16'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-17'), 1, 26), 'u-' || :join || '-17', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-17')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-17')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-17'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-18'), 1, 26), 'u-' || :join || '-18', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-18')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-18')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-18'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-19'), 1, 26), 'u-' || :join || '-19', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-19')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-19')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-19'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-20'), 1, 26), 'u-' || :join || '-20', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-20')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-20')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-20'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-21'), 1, 26), 'u-' || :join || '-21', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-21')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-21')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-21'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-22'), 1, 26), 'u-' || :join || '-22', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-22')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-22')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-22'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-23'), 1, 26), 'u-' || :join || '-23', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-23')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-23')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-23'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-24'), 1, 26), 'u-' || :join || '-24', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-24')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-24')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-24'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-25'), 1, 26), 'u-' || :join || '-25', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-25')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-25')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-25'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-26'), 1, 26), 'u-' || :join || '-26', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-26')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-26')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-26'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-27'), 1, 26), 'u-' || :join || '-27', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-27')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-27')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-27'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-28'), 1, 26), 'u-' || :join || '-28', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-28')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-28')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-28'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-29'), 1, 26), 'u-' || :join || '-29', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-29')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-29')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-29'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-30'), 1, 26), 'u-' || :join || '-30', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-30')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-30')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-30'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-31'), 1, 26), 'u-' || :join || '-31', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-31')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-31')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-31'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-32'), 1, 26), 'u-' || :join || '-32', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-32')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-32')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-32'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-33'), 1, 26), 'u-' || :join || '-33', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-33')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-33')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-33'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-34'), 1, 26), 'u-' || :join || '-34', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-34')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-34')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-34'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-35'), 1, 26), 'u-' || :join || '-35', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-35')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-35')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-35'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-36'), 1, 26), 'u-' || :join || '-36', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-36')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-36')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-36'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-37'), 1, 26), 'u-' || :join || '-37', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-37')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-37')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-37'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-38'), 1, 26), 'u-' || :join || '-38', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-38')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-38')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-38'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-39'), 1, 26), 'u-' || :join || '-39', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-39')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-39')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-39'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-40'), 1, 26), 'u-' || :join || '-40', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-40')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-40')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-40'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-41'), 1, 26), 'u-' || :join || '-41', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-41')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-41')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-41'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-42'), 1, 26), 'u-' || :join || '-42', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-42')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-42')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-42'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-43'), 1, 26), 'u-' || :join || '-43', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-43')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-43')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-43'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-44'), 1, 26), 'u-' || :join || '-44', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-44')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-44')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-44'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-45'), 1, 26), 'u-' || :join || '-45', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-45')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-45')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-45'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-46'), 1, 26), 'u-' || :join || '-46', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-46')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-46')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-46'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-47'), 1, 26), 'u-' || :join || '-47', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-47')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-47')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-47'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-48'), 1, 26), 'u-' || :join || '-48', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-48')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-48')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-48'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-49'), 1, 26), 'u-' || :join || '-49', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-49')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-49')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-49'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
WITH placed AS (
    INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel,
        shipping_city, pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
    VALUES ('po_' || substr(md5('order-' || :join || '-50'), 1, 26), 'u-' || :join || '-50', 'group', 'pending_payment', 1990,
        'CNY', 'pingou_app', 'Hangzhou', now() + interval '15 minutes',
        md5('group-' || :sku || '-' || :grp)::uuid::text, md5('seat-' || :join || '-50')::uuid::text, false,
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
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join || '-50')::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join || '-50'), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 492), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
COMMIT;

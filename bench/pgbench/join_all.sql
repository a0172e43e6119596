-- One JoinGroup's SQL, as one pgbench transaction: what the platform commits per join, in the order it
-- commits it. First groupbuy's seat hold (the answer: one statement, its own implicit transaction: the
-- seat, its unit of stock from groupbuy's allotment, the SeatHeld outbox row), then the order service's
-- transaction for that SeatHeld (inbox claim, order and item, failed-group lookup, OrderPlaced outbox
-- row). The bodies are join_groupbuy.sql and join_order.sql verbatim (tests/integration/
-- test_pgbench_ceiling.py checks it); they share the header's variables, so the two name the same
-- group, seat, user and order. Catalog is no longer on a join's path (groupbuy leases stock from it in
-- blocks, rarely): join_catalog.sql, its ReserveStock, stays in this folder but not in this script.
-- Needs -D skus=N: joins spread over sku-1 .. sku-N (setup.sql seeds 8; 1 makes one SKU hot).
\set sku random(1, :skus)
\set grp random(1, 10000)
\set join :client_id * 1000000000000000 + random(0, 999999999999999)
\set bucket random(0, 7)
\set partition :grp % 3
-- join_groupbuy.sql
WITH taken AS (
    UPDATE groupbuy_pingou.groups SET seats_taken = seats_taken + 1
    WHERE group_id = md5('group-' || :sku || '-' || :grp)::uuid AND state = 'open' AND seats_taken < size
        AND expires_at > now()
    RETURNING group_id, sku_id, leader_user_id, state, size, seats_taken, seats_paid, group_price_minor,
    leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match, share_code,
    opened_at, expires_at, closed_at, flagged, failure_reason
), unit AS (
    SELECT t.bucket, t.remaining FROM taken, LATERAL groupbuy_pingou.take_allotment(taken.sku_id, :bucket) t), seat AS (
    INSERT INTO groupbuy_pingou.seats (seat_id, group_id, user_id, leader, request_key, invite_code,
        inviter_user_id, unit_price_minor, shipping_city, channel, held_at, pay_by, order_id, stock_bucket)
    SELECT md5('seat-' || :join)::uuid, group_id, 'u-' || :join, false, 'rk-' || :join,
        upper(substr(md5('invite-' || :join), 1, 16)), NULL, group_price_minor, 'Hangzhou', 1, now(),
        now() + interval '15 minutes', 'po_' || substr(md5('order-' || :join), 1, 26), unit.bucket
    FROM taken, unit
    RETURNING user_id
), counted AS (
    INSERT INTO groupbuy_pingou.user_sku_groups AS u (user_id, sku_id, active, max_active)
    SELECT seat.user_id, taken.sku_id, 1, taken.per_user_limit FROM seat, taken
    ON CONFLICT (user_id, sku_id)
    DO UPDATE SET active = u.active + 1, max_active = excluded.max_active), announced AS (
INSERT INTO groupbuy_pingou.outbox (event_id, topic, key, event_type, payload, headers)
SELECT e.* FROM unnest(ARRAY[md5('seat-held-' || :join)::uuid]::uuid[], ARRAY['pingou.groupbuy.v1']::text[],
    ARRAY[md5('group-' || :sku || '-' || :grp)::uuid::text]::text[], ARRAY['pingou.groupbuy.v1.SeatHeld']::text[],
    ARRAY[decode(repeat('a5', 430), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e, seat
)
SELECT group_id, sku_id, leader_user_id, state, size, seats_taken, seats_paid, group_price_minor,
    leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match, share_code,
    opened_at, expires_at, closed_at, flagged, failure_reason, (SELECT remaining FROM unit) AS stock_remaining
FROM taken;
-- join_order.sql
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

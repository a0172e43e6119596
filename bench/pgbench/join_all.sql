-- One JoinGroup's SQL, as one pgbench transaction: the three transactions the services commit, one
-- after another in the order a join runs them: groupbuy's seat hold, then catalog's reservation (order
-- reserves before it writes), then order's keyed placement. The bodies are join_groupbuy.sql,
-- join_catalog.sql and join_order.sql verbatim (tests/integration/test_pgbench_ceiling.py checks it);
-- they share the header's variables, so the three name the same group, seat, user and order.
-- Needs -D skus=N: joins spread over sku-1 .. sku-N (setup.sql seeds 8; 1 makes one SKU hot).
\set sku random(1, :skus)
\set grp random(1, 2500)
\set join :client_id * 1000000000000000 + random(0, 999999999999999)
\set bucket random(0, 7)
-- join_groupbuy.sql
WITH taken AS (
    UPDATE groupbuy_pingou.groups SET seats_taken = seats_taken + 1
    WHERE group_id = md5('group-' || :sku || '-' || :grp)::uuid AND state = 'open' AND seats_taken < size
        AND expires_at > now()
    RETURNING group_id, sku_id, leader_user_id, state, size, seats_taken, seats_paid, group_price_minor,
    leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match, share_code,
    opened_at, expires_at, closed_at, flagged, failure_reason
), seat AS (
    INSERT INTO groupbuy_pingou.seats (seat_id, group_id, user_id, leader, request_key, invite_code,
        inviter_user_id, unit_price_minor, shipping_city, channel, held_at, pay_by)
    SELECT md5('seat-' || :join)::uuid, group_id, 'u-' || :join, false, 'rk-' || :join,
        upper(substr(md5('invite-' || :join), 1, 16)), NULL, group_price_minor, 'Hangzhou', 1, now(),
        now() + interval '15 minutes' FROM taken
    RETURNING user_id
), counted AS (
    INSERT INTO groupbuy_pingou.user_sku_groups AS u (user_id, sku_id, active, max_active)
    SELECT seat.user_id, taken.sku_id, 1, taken.per_user_limit FROM seat, taken
    ON CONFLICT (user_id, sku_id)
    DO UPDATE SET active = u.active + 1, max_active = excluded.max_active), announced AS (
INSERT INTO groupbuy_pingou.outbox (event_id, topic, key, event_type, payload, headers)
SELECT e.* FROM unnest(ARRAY[md5('seat-held-' || :join)::uuid]::uuid[], ARRAY['pingou.groupbuy.v1']::text[],
    ARRAY[md5('group-' || :sku || '-' || :grp)::uuid::text]::text[], ARRAY['pingou.groupbuy.v1.SeatHeld']::text[],
    ARRAY[decode(repeat('a5', 360), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e, seat
)
SELECT group_id, sku_id, leader_user_id, state, size, seats_taken, seats_paid, group_price_minor,
    leader_price_minor, per_user_limit, new_user_only, plus_only, strangers_can_join, auto_match, share_code,
    opened_at, expires_at, closed_at, flagged, failure_reason FROM taken;
-- join_catalog.sql
BEGIN;
SELECT wanted FROM unnest(ARRAY['sku-' || :sku]::text[]) AS wanted
WHERE NOT EXISTS (SELECT 1 FROM catalog_pingou.listings WHERE sku_id = wanted AND active);
INSERT INTO catalog_pingou.reservations (order_id, items, state, expires_at)
VALUES ('po_' || substr(md5('order-' || :join), 1, 26), ('[{"sku_id": "sku-' || :sku || '", "quantity": 1}]')::jsonb,
    'reserved', now() + interval '1 day 10 minutes')
ON CONFLICT (order_id) DO NOTHING;
SELECT catalog_pingou.take_stock('po_' || substr(md5('order-' || :join), 1, 26), 'sku-' || :sku, 1, :bucket, false)
    = 'contended' AS contended \gset
\if :contended
ROLLBACK;
BEGIN;
SELECT wanted FROM unnest(ARRAY['sku-' || :sku]::text[]) AS wanted
WHERE NOT EXISTS (SELECT 1 FROM catalog_pingou.listings WHERE sku_id = wanted AND active);
INSERT INTO catalog_pingou.reservations (order_id, items, state, expires_at)
VALUES ('po_' || substr(md5('order-' || :join), 1, 26), ('[{"sku_id": "sku-' || :sku || '", "quantity": 1}]')::jsonb,
    'reserved', now() + interval '1 day 10 minutes')
ON CONFLICT (order_id) DO NOTHING;
SELECT catalog_pingou.take_stock('po_' || substr(md5('order-' || :join), 1, 26), 'sku-' || :sku, 1, :bucket, true);
\endif
INSERT INTO catalog_pingou.outbox (event_id, topic, key, event_type, payload, headers)
SELECT e.* FROM unnest(ARRAY[md5('stock-reserved-' || :join)::uuid]::uuid[], ARRAY['pingou.inventory.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join), 1, 26)]::text[], ARRAY['pingou.catalog.v1.StockReserved']::text[],
    ARRAY[decode(repeat('a5', 256), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
COMMIT;
-- join_order.sql
BEGIN;
INSERT INTO order_pingou.idempotency_keys (scope, idempotency_key, method, request_digest, response)
VALUES ('u-' || :join, md5('seat-' || :join)::uuid::text, 'PlaceGroupOrder',
    sha256(convert_to('request-' || :join, 'UTF8')), ''::bytea) ON CONFLICT DO NOTHING RETURNING true;
INSERT INTO order_pingou.orders (order_id, user_id, kind, state, total_minor, currency, channel, shipping_city,
    pay_by, group_id, seat_id, group_leader, group_expires_at, paid_at, created_at, updated_at)
VALUES ('po_' || substr(md5('order-' || :join), 1, 26), 'u-' || :join, 'group', 'pending_payment', 1990, 'CNY',
    'pingou_app', 'Hangzhou', now() + interval '15 minutes', md5('group-' || :sku || '-' || :grp)::uuid::text,
    md5('seat-' || :join)::uuid::text, false, now() + interval '1 day', NULL, now(), now());
INSERT INTO order_pingou.order_items (order_id, sku_id, quantity, unit_price_minor, list_price_minor, plus_price)
VALUES ('po_' || substr(md5('order-' || :join), 1, 26), 'sku-' || :sku, 1, 1990, 1990, false);
UPDATE order_pingou.idempotency_keys SET response = decode(repeat('5a', 252), 'hex')
WHERE scope = 'u-' || :join AND idempotency_key = md5('seat-' || :join)::uuid::text;
INSERT INTO order_pingou.outbox (event_id, topic, key, event_type, payload, headers)
SELECT e.* FROM unnest(ARRAY[md5('order-placed-' || :join)::uuid]::uuid[], ARRAY['pingou.order.v1']::text[],
    ARRAY['po_' || substr(md5('order-' || :join), 1, 26)]::text[], ARRAY['pingou.order.v1.OrderPlaced']::text[],
    ARRAY[decode(repeat('a5', 483), 'hex')]::bytea[],
    ARRAY['{"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}']::jsonb[]) AS e;
COMMIT;

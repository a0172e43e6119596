-- order's part of one JoinGroup: PlaceGroupOrder's keyed transaction (`keyed` and `_add_order` in
-- services/order/service_layer/orders.py, adapters/repository.py): the idempotency-key claim (scope the
-- buyer, key the seat id), the order and its item, the stored answer (~252-byte Order), then the
-- OrderPlaced outbox row (~483-byte envelope) the unit of work appends just before COMMIT.
-- Needs -D skus=N: joins spread over sku-1 .. sku-N (setup.sql seeds 8; 1 makes one SKU hot).
\set sku random(1, :skus)
\set grp random(1, 2500)
\set join :client_id * 1000000000000000 + random(0, 999999999999999)
\set bucket random(0, 7)
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

-- catalog's ReserveStock of one order's item (`reserve_stock` and `reserve` in
-- services/catalog/service_layer/inventory.py, adapters/repository.py), in its unit of work: the listing
-- check, `add_reservation`, `take_stock` from a random start bucket skipping held buckets, then the
-- StockReserved outbox row (~256-byte envelope). No longer part of a join (bench/ceilings.py's `join_script`): a seat's unit
-- comes from groupbuy's allotment, leased from catalog in blocks. Kept to compare with: what the old join
-- paid catalog per seat, and what an order that reserves through catalog still pays (a mall order, on
-- its own line's tables). ceilings.py runs it alone with per_service.
-- An attempt that finds every bucket held ('contended') is rolled back and made again in a new
-- transaction, as the service does; the service tries skipping 8 times (with short sleeps) before
-- waiting for the buckets, this script waits at once on its second try, so it never does more than the
-- service.
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

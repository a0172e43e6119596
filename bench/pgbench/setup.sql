-- Seeds a scratch database (migrated by the services' own `migrate`) for the join scripts: 8 SKUs
-- (sku-1 .. sku-8), each listed on pingou, with groupbuy's allotment of 8 buckets of ample units (what a
-- join takes its unit from) and catalog's 8 stock buckets (join_catalog.sql's, no longer on a join's
-- path), and 10,000 open groups of 50 per SKU, each with its leader's seat, so that 49 x 10,000 seats fit
-- in the groups of one SKU: a hot run and its seat-only run (ceilings.py) never fill many groups.
-- The scripts name groups as md5('group-' || sku || '-' || n)::uuid, n in 1..10000: keep them in step.
-- Run as one multi-statement string (no parameters).

-- take_allotment's and take_stock's bodies name their tables unqualified, as groupbuy's and catalog's
-- pools (search_path = their schema) resolve them: both schemas are on the path (the tables the two name
-- are in one of them only); every other statement of the scripts names its schema.
DO $$ BEGIN
    EXECUTE format('ALTER DATABASE %I SET search_path = groupbuy_pingou, catalog_pingou', current_database());
END $$;

INSERT INTO catalog.categories (category_id, name) VALUES ('bench', 'Bench');
INSERT INTO catalog.merchants (merchant_id, name) VALUES ('bench', 'Bench merchant');
INSERT INTO catalog.products (product_id, merchant_id, category_id, factory_direct, title)
SELECT 'bench-' || s, 'bench', 'bench', false, 'Bench product ' || s FROM generate_series(1, 8) AS s;
INSERT INTO catalog.skus (sku_id, product_id, title)
SELECT 'sku-' || s, 'bench-' || s, 'Bench SKU ' || s FROM generate_series(1, 8) AS s;

INSERT INTO catalog_pingou.listings (sku_id, product_id, title, category_id, factory_direct, price_minor,
    group_price_minor, leader_price_minor, group_rule)
SELECT 'sku-' || s, 'bench-' || s, 'Bench SKU ' || s, 'bench', false, 2990, 1990, 990,
    '{"size": 50, "window_minutes": 1440, "per_user_limit": 2, "new_user_only": false, "plus_only": false,
      "strangers_can_join": true, "auto_match": true, "leader_free": false}'::jsonb
FROM generate_series(1, 8) AS s;
INSERT INTO catalog_pingou.stock (sku_id, bucket, available)
SELECT 'sku-' || s, bucket, 1000000 FROM generate_series(1, 8) AS s, generate_series(0, 7) AS bucket;

-- What groupbuy's leases from catalog would have credited: ample, so no join finds the allotment empty.
INSERT INTO groupbuy_pingou.allotments (sku_id, bucket, available)
SELECT 'sku-' || s, bucket, 1000000 FROM generate_series(1, 8) AS s, generate_series(0, 7) AS bucket;

INSERT INTO groupbuy_pingou.groups (group_id, sku_id, leader_user_id, size, seats_taken, group_price_minor,
    leader_price_minor, per_user_limit, share_code, opened_at, expires_at)
SELECT md5('group-' || s || '-' || n)::uuid, 'sku-' || s, 'leader-' || s || '-' || n, 50, 1, 1990, 990, 2,
    'S' || s || '-' || n, now() - interval '1 minute', now() + interval '1 day'
FROM generate_series(1, 8) AS s, generate_series(1, 10000) AS n;
INSERT INTO groupbuy_pingou.seats (seat_id, group_id, user_id, leader, request_key, invite_code,
    unit_price_minor, shipping_city, channel, held_at, pay_by)
SELECT md5('leader-seat-' || share_code)::uuid, group_id, leader_user_id, true, 'rk-' || share_code, share_code,
    leader_price_minor, 'Hangzhou', 1, opened_at, opened_at + interval '15 minutes'
FROM groupbuy_pingou.groups;
INSERT INTO groupbuy_pingou.user_sku_groups (user_id, sku_id, active, max_active)
SELECT leader_user_id, sku_id, 1, per_user_limit FROM groupbuy_pingou.groups;

-- Fresh statistics, so the first prepared plans are the ones a long-running service would use.
ANALYZE catalog_pingou.listings, catalog_pingou.stock, groupbuy_pingou.allotments, groupbuy_pingou.groups,
    groupbuy_pingou.seats, groupbuy_pingou.user_sku_groups;

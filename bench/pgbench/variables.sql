-- The variables every script of this folder shares, put in front of each when a run writes it
-- (bench/ceilings.py): one join's group, seat, user and order ids, and its SKU (-D skus=N: sku-1 ..
-- sku-N; setup.sql seeds 8, 1 makes one SKU hot).
\set sku random(1, :skus)
\set grp random(1, 10000)
\set join :client_id * 1000000000000000 + random(0, 999999999999999)
\set bucket random(0, 7)
\set partition :grp % 3

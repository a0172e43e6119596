-- Joins that wait for an allotment row take them in one order (bucket ascending): a waiting FOR UPDATE
-- keeps the rows it locked and then skipped (found empty on the recheck), so two joins waiting from
-- different start buckets could each hold a row the other wants, and deadlock (seen under make bench
-- on one hot SKU). Joins that skip locked rows still start at their own bucket, and never wait.
-- depends: groupbuy_0002_allotments

CREATE OR REPLACE FUNCTION take_allotment(p_sku text, p_start integer, OUT bucket smallint, OUT remaining integer)
LANGUAGE plpgsql AS $$
BEGIN
    UPDATE allotments a SET available = a.available - 1
    WHERE a.sku_id = p_sku AND a.bucket = (
        SELECT b.bucket FROM allotments b WHERE b.sku_id = p_sku AND b.available > 0
        ORDER BY (b.bucket - p_start + 8) % 8 LIMIT 1 FOR UPDATE SKIP LOCKED)
    RETURNING a.bucket, a.available INTO bucket, remaining;
    IF bucket IS NULL THEN
        UPDATE allotments a SET available = a.available - 1
        WHERE a.sku_id = p_sku AND a.bucket = (
            SELECT b.bucket FROM allotments b WHERE b.sku_id = p_sku AND b.available > 0
            ORDER BY b.bucket LIMIT 1 FOR UPDATE)
        RETURNING a.bucket, a.available INTO bucket, remaining;
    END IF;
    IF bucket IS NULL THEN
        RAISE EXCEPTION 'the allotment of % is empty', p_sku USING ERRCODE = 'GB001';
    END IF;
END $$;

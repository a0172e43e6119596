-- Stock for joins, held by groupbuy itself: leased from catalog in blocks (catalog's LeaseStock), so a
-- join takes its unit in the statement that holds its seat instead of asking catalog (and the order
-- service) on the way. Catalog stays the owner: it knows how much is leased, and gets back what groupbuy
-- returns. A released seat gives its unit back here; a completed group's units are sold.
-- depends: groupbuy_0001_groups_seats

-- Eight rows per SKU, so that concurrent joins of one hot SKU take from different rows.
CREATE TABLE allotments (
    sku_id    text     NOT NULL,
    bucket    smallint NOT NULL CHECK (bucket BETWEEN 0 AND 7),
    available integer  NOT NULL CHECK (available >= 0),
    PRIMARY KEY (sku_id, bucket)
);

-- Leases asked of catalog. Written before the call (its id is catalog's idempotency key) and credited
-- with what catalog granted, once: a lease a crash left uncredited is asked again under the same id
-- (catalog answers with the same grant) and credited then.
CREATE TABLE stock_leases (
    lease_id    uuid        PRIMARY KEY,
    sku_id      text        NOT NULL,
    quantity    integer     NOT NULL CHECK (quantity > 0),
    granted     integer     CHECK (granted BETWEEN 0 AND quantity),
    asked_at    timestamptz NOT NULL,
    credited_at timestamptz,
    CONSTRAINT credited_with_grant CHECK ((credited_at IS NULL) = (granted IS NULL))
);

CREATE INDEX stock_leases_uncredited ON stock_leases (asked_at) WHERE credited_at IS NULL;

-- The bucket a seat's unit came from (given back there when the seat is released). NULL for seats held
-- before allotments existed: their order reserved its stock through catalog.
ALTER TABLE seats ADD COLUMN stock_bucket smallint;

-- Takes one unit of the SKU for a seat, from the first bucket (starting at p_start) that has stock and
-- that no other transaction holds; when every stocked bucket is held, it waits for one. Raises GB001 when
-- the allotment is empty: the whole seat statement is undone, and the caller leases more and retries.
CREATE FUNCTION take_allotment(p_sku text, p_start integer, OUT bucket smallint, OUT remaining integer)
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
            ORDER BY (b.bucket - p_start + 8) % 8 LIMIT 1 FOR UPDATE)
        RETURNING a.bucket, a.available INTO bucket, remaining;
    END IF;
    IF bucket IS NULL THEN
        RAISE EXCEPTION 'the allotment of % is empty', p_sku USING ERRCODE = 'GB001';
    END IF;
END $$;

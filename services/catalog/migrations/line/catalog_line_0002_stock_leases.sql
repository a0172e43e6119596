-- Stock leased to groupbuy in blocks, so that a join takes its unit in groupbuy's own transaction.
-- Leased units have left the buckets (they are not available to reserve); catalog keeps count of them
-- and gets back what groupbuy returns.
-- depends: catalog_line_0001_listings_stock

-- What groupbuy holds of a SKU: leased and not yet returned (in its allotment, held by seats, or sold).
-- A lease adds what it took from the buckets, a return subtracts what it gave back to them; the check
-- makes a return beyond the lease impossible whatever the code does.
CREATE TABLE stock_leases (
    sku_id text   PRIMARY KEY,
    leased bigint NOT NULL CHECK (leased >= 0)
);

-- One row per lease or return: lease_id (chosen by the caller) is the idempotency key of both calls, so
-- a retry finds the first answer here (what was granted or returned, and what was leased after it)
-- instead of taking or giving back again.
CREATE TABLE lease_requests (
    lease_id   uuid        PRIMARY KEY,
    kind       text        NOT NULL CHECK (kind IN ('lease', 'return')),
    sku_id     text        NOT NULL,
    quantity   integer     NOT NULL CHECK (quantity >= 0),   -- granted (0 when none was left) or returned
    leased     bigint      NOT NULL CHECK (leased >= 0),     -- the SKU's stock_leases.leased right after
    created_at timestamptz NOT NULL DEFAULT now(),
    CHECK (kind = 'lease' OR quantity > 0)
);

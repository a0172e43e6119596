-- One line's listings and stock (schemas catalog_mall and catalog_pingou).
-- depends: events_0001_outbox_inbox

-- A listing of a SKU on this line. Mall listings use price/plus_price; pingou listings use price as the
-- solo price plus the group price and rule. The checks keep every listing sellable and consistent.
CREATE TABLE listings (
    sku_id             text        PRIMARY KEY,
    product_id         text        NOT NULL,
    title              text        NOT NULL,
    category_id        text        NOT NULL,
    belt_id            text,
    factory_direct     boolean     NOT NULL,
    image_url          text        NOT NULL DEFAULT '',
    price_minor        bigint      NOT NULL CHECK (price_minor > 0),
    plus_price_minor   bigint      CHECK (plus_price_minor > 0 AND plus_price_minor < price_minor),
    group_price_minor  bigint      CHECK (group_price_minor > 0 AND group_price_minor < price_minor),
    leader_price_minor bigint      CHECK (leader_price_minor > 0 AND leader_price_minor <= group_price_minor),
    group_rule         jsonb,
    active             boolean     NOT NULL DEFAULT true,
    version            integer     NOT NULL DEFAULT 1,
    updated_at         timestamptz NOT NULL DEFAULT now(),
    -- The price a buyer sees first: the group price on pingou, the price on mall. Browsing sorts on it.
    display_price_minor bigint GENERATED ALWAYS AS (coalesce(group_price_minor, price_minor)) STORED,
    CHECK ((group_price_minor IS NULL) = (group_rule IS NULL))
);

CREATE INDEX listings_browse ON listings (category_id, display_price_minor, sku_id) WHERE active;
CREATE INDEX listings_by_belt ON listings (belt_id, display_price_minor, sku_id) WHERE active;

-- Stock is split into buckets so that a hot SKU is not one row every buyer queues on: a reservation
-- takes from the first bucket nobody else holds at that moment. The sum is the SKU's stock.
CREATE TABLE stock (
    sku_id    text     NOT NULL,
    bucket    smallint NOT NULL CHECK (bucket >= 0),
    available integer  NOT NULL CHECK (available >= 0),
    PRIMARY KEY (sku_id, bucket)
);

-- One reservation per order (the idempotency key); its parts say which buckets it took from, so a
-- release gives back exactly what was taken.
CREATE TABLE reservations (
    order_id   text        PRIMARY KEY,
    items      jsonb       NOT NULL,   -- [{"sku_id": ..., "quantity": ...}], as requested, sorted
    state      text        NOT NULL CHECK (state IN ('reserved', 'committed', 'released')),
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    settled_at timestamptz
);

CREATE INDEX reservations_due ON reservations (expires_at) WHERE state = 'reserved';

CREATE TABLE reservation_parts (
    order_id text     NOT NULL REFERENCES reservations,
    sku_id   text     NOT NULL,
    bucket   smallint NOT NULL,
    quantity integer  NOT NULL CHECK (quantity > 0),
    PRIMARY KEY (order_id, sku_id, bucket)
);

-- Takes `p_quantity` of a SKU for an order from the stock buckets, starting at `p_start` so that
-- concurrent orders spread over the buckets. With p_wait = false, buckets another transaction holds
-- are skipped (no queueing on a hot SKU); with p_wait = true they are waited for. Returns 'reserved',
-- or 'insufficient' (there is not that much stock) or 'contended' (there is, but it is held by others
-- right now): in both of those cases nothing was taken.
CREATE FUNCTION take_stock(p_order text, p_sku text, p_quantity integer, p_start integer, p_wait boolean)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    need    integer := p_quantity;
    buckets integer;
    part    record;
    taken   integer;
BEGIN
    SELECT count(*) INTO buckets FROM stock WHERE sku_id = p_sku;
    IF buckets = 0 THEN
        RETURN 'insufficient';
    END IF;
    BEGIN
        FOR part IN
            SELECT bucket, available FROM stock
            WHERE sku_id = p_sku AND available > 0 AND NOT p_wait
            ORDER BY (bucket - p_start + buckets) % buckets
            FOR UPDATE SKIP LOCKED
        LOOP
            taken := least(need, part.available);
            UPDATE stock SET available = available - taken WHERE sku_id = p_sku AND bucket = part.bucket;
            INSERT INTO reservation_parts VALUES (p_order, p_sku, part.bucket, taken);
            need := need - taken;
            EXIT WHEN need = 0;
        END LOOP;
        IF need > 0 AND p_wait THEN
            FOR part IN
                SELECT bucket, available FROM stock WHERE sku_id = p_sku AND available > 0
                ORDER BY bucket FOR UPDATE
            LOOP
                taken := least(need, part.available);
                UPDATE stock SET available = available - taken WHERE sku_id = p_sku AND bucket = part.bucket;
                INSERT INTO reservation_parts VALUES (p_order, p_sku, part.bucket, taken);
                need := need - taken;
                EXIT WHEN need = 0;
            END LOOP;
        END IF;
        IF need > 0 THEN
            -- Undo the partial takes (this block is a subtransaction) and say why.
            -- What is left (after this order's partial takes) still covers the rest: others hold it.
            RAISE EXCEPTION USING ERRCODE = 'P0001', MESSAGE =
                CASE WHEN (SELECT sum(available) FROM stock WHERE sku_id = p_sku) >= need
                     THEN 'contended' ELSE 'insufficient' END;
        END IF;
    EXCEPTION WHEN SQLSTATE 'P0001' THEN
        RETURN SQLERRM;
    END;
    RETURN 'reserved';
END;
$$;

-- One line's orders, payments and refunds; applied to order_mall and order_pingou alike.
-- depends: events_0001_outbox_inbox

CREATE TABLE orders (
    order_id          text        PRIMARY KEY,
    user_id           text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('mall', 'group')),
    state             text        NOT NULL CHECK (state IN ('pending_payment', 'paid', 'awaiting_group',
                                      'group_completed', 'shipped', 'delivered', 'cancelled', 'refunding',
                                      'refunded')),
    total_minor       bigint      NOT NULL CHECK (total_minor >= 0),
    currency          text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    channel           text        NOT NULL CHECK (channel IN ('pingou_app', 'wechat_mini_program', 'mall_app', 'h5')),
    shipping_city     text        NOT NULL,
    pay_by            timestamptz NOT NULL,   -- unpaid by then: cancelled by the payment-timeout job
    group_id          text,
    seat_id           text,                   -- group orders: groupbuy's seat this order pays for
    group_leader      boolean     NOT NULL DEFAULT false,
    group_expires_at  timestamptz,
    payment_reference text        UNIQUE,     -- the accepted payment
    paid_at           timestamptz,
    cancel_reason     text        CHECK (cancel_reason IN ('by_buyer', 'payment_timeout', 'group_failed', 'by_operator',
                                      'seat_released')),
    tracking_number   text,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now(),
    CHECK ((kind = 'group') = (group_id IS NOT NULL AND seat_id IS NOT NULL)),
    CHECK ((state = 'cancelled') = (cancel_reason IS NOT NULL)),
    -- Every state past payment has a payment (a free leader's order has none to show but paid_at).
    CHECK (state IN ('pending_payment', 'cancelled') OR paid_at IS NOT NULL),
    CHECK (payment_reference IS NULL OR paid_at IS NOT NULL)
);

CREATE INDEX orders_by_user ON orders (user_id, created_at DESC, order_id DESC);
CREATE INDEX orders_by_state ON orders (state, created_at DESC, order_id DESC);
CREATE INDEX orders_by_group ON orders (group_id) WHERE group_id IS NOT NULL;
-- What the payment-timeout job scans.
CREATE INDEX orders_unpaid ON orders (pay_by) WHERE state = 'pending_payment';

CREATE TABLE order_items (
    order_id         text    NOT NULL REFERENCES orders,
    sku_id           text    NOT NULL,
    quantity         integer NOT NULL CHECK (quantity BETWEEN 1 AND 999),
    unit_price_minor bigint  NOT NULL CHECK (unit_price_minor >= 0),
    list_price_minor bigint  NOT NULL CHECK (list_price_minor >= 0),
    plus_price       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (order_id, sku_id)
);

-- Every confirmation the payment provider sent, keyed by its payment reference: a repeated confirmation
-- finds its row (or waits on the key for the first one to commit) and answers as the first did.
CREATE TABLE payment_confirmations (
    payment_reference text        PRIMARY KEY,
    order_id          text        NOT NULL REFERENCES orders,
    amount_minor      bigint      NOT NULL,
    currency          text        NOT NULL,
    paid_at           timestamptz NOT NULL,
    outcome           text        NOT NULL CHECK (outcome IN ('accepted', 'amount_mismatch', 'currency_mismatch',
                                      'intent_mismatch', 'late', 'duplicate')),
    response          bytea,      -- the answer given (an Order), for 'accepted'
    received_at       timestamptz NOT NULL DEFAULT now()
);

-- Refunds: a durable record per refunded payment, asked of the provider again until it answers.
CREATE TABLE refunds (
    refund_id          text        PRIMARY KEY,
    order_id           text        NOT NULL REFERENCES orders,
    reason             text        NOT NULL CHECK (reason IN ('group_failed', 'after_sale', 'late_payment',
                                       'duplicate_payment', 'payment_mismatch', 'seat_released',
                                       'stock_unavailable')),
    state              text        NOT NULL CHECK (state IN ('requested', 'succeeded', 'failed')),
    amount_minor       bigint      NOT NULL CHECK (amount_minor > 0),
    currency           text        NOT NULL,
    payment_reference  text        NOT NULL UNIQUE,   -- a payment is refunded (in full) at most once
    attempts           integer     NOT NULL DEFAULT 1 CHECK (attempts >= 1),
    next_attempt_at    timestamptz,                   -- when to ask again if the provider stays silent
    provider_reference text,
    last_error         text,
    requested_at       timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    CHECK ((state = 'requested') = (next_attempt_at IS NOT NULL)),
    CHECK (state <> 'succeeded' OR provider_reference IS NOT NULL)
);

CREATE INDEX refunds_by_order ON refunds (order_id);
CREATE INDEX refunds_due ON refunds (next_attempt_at) WHERE state = 'requested';

-- Idempotency keys of the calls that change an order: the first call's answer, returned to every retry.
-- `scope` is whose keys they are (the buyer for placements, the order for changes of one order).
CREATE TABLE idempotency_keys (
    scope           text        NOT NULL,
    idempotency_key text        NOT NULL,
    method          text        NOT NULL,
    request_digest  bytea       NOT NULL,
    response        bytea,      -- filled in the transaction that claimed the key; never seen empty
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, idempotency_key)
);

CREATE INDEX idempotency_keys_by_age ON idempotency_keys (created_at);

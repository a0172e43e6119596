-- One line's facts, each written once from its event (keyed by what it is about: a redelivered event
-- finds its fact already there) and never updated, the first-seen rows distinct users are counted from,
-- and the consumer's own progress. KPIs are read at query time over a time index's range. Users are their
-- number within the line (the schema says which line), which counts faster than text.
-- depends:

-- OrderPlaced, once per order (the key that makes an order count once).
CREATE TABLE placed_orders (
    order_id    text        PRIMARY KEY,
    user_number bigint      NOT NULL,
    placed_at   timestamptz NOT NULL,
    items       integer     NOT NULL CHECK (items >= 0),
    total_minor bigint      NOT NULL,
    channel     text        NOT NULL CHECK (channel IN ('pingou_app', 'wechat_mini_program', 'mall_app', 'h5',
                                                        'unspecified')),
    city_tier   smallint    NOT NULL CHECK (city_tier BETWEEN 1 AND 6)
);

-- Orders and items per minute and channel, counted as each new order is recorded. One row per partition
-- of the order topic too: a partition has one consumer at a time, so no two consumers ever wait for the
-- same counter. A day is 1,440 minutes times a few partitions and channels, read in a moment.
CREATE TABLE order_counts (
    minute    timestamptz NOT NULL,
    partition integer     NOT NULL,
    channel   text        NOT NULL,
    orders    bigint      NOT NULL,
    items     bigint      NOT NULL,
    PRIMARY KEY (minute, partition, channel)
);

-- Each user once per minute, hour and Beijing day they ordered in, with a bit for each city tier they
-- ordered to (1 << tier). Distinct users of a bucket are its rows; of a window, the distinct users of the
-- coarsest level's rows that tile it (one day: that day's rows).
CREATE TABLE ordering_users (
    level       text        NOT NULL CHECK (level IN ('minute', 'hour', 'day')),
    bucket      timestamptz NOT NULL,
    user_number bigint      NOT NULL,
    tiers       integer     NOT NULL,
    PRIMARY KEY (level, bucket, user_number) INCLUDE (tiers)
);

-- OrderPaid, once per order; its payer once per minute, hour and day with what they paid in it (GMV).
CREATE TABLE payments (
    order_id     text        PRIMARY KEY,
    user_number  bigint      NOT NULL,
    paid_at      timestamptz NOT NULL,
    amount_minor bigint      NOT NULL
);
CREATE TABLE paying_users (
    level        text        NOT NULL CHECK (level IN ('minute', 'hour', 'day')),
    bucket       timestamptz NOT NULL,
    user_number  bigint      NOT NULL,
    amount_minor bigint      NOT NULL,
    PRIMARY KEY (level, bucket, user_number) INCLUDE (amount_minor)
);

-- Each user's earliest payment (least of their payments, whatever order their events come in): new to the
-- company when no linked account of either line paid earlier.
CREATE TABLE first_payments (
    user_id text        PRIMARY KEY,
    paid_at timestamptz NOT NULL
);
CREATE INDEX first_payments_by_time ON first_payments (paid_at);

-- Users whose identity links are to be looked up from segmentation (the link job claims them).
CREATE TABLE link_lookups (
    user_id   text        PRIMARY KEY,
    wanted_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX link_lookups_by_age ON link_lookups (wanted_at);

-- OrderRefunded: an order is refunded once.
CREATE TABLE refunds (
    order_id     text        PRIMARY KEY,
    user_id      text        NOT NULL,
    refunded_at  timestamptz NOT NULL,
    amount_minor bigint      NOT NULL
);
CREATE INDEX refunds_by_time ON refunds (refunded_at) INCLUDE (amount_minor);

-- Groups (pingou): opened, and the outcome of each, counted once (reannounced outcomes add nothing).
CREATE TABLE groups_opened (
    group_id  text        PRIMARY KEY,
    opened_at timestamptz NOT NULL
);
CREATE INDEX groups_opened_by_time ON groups_opened (opened_at);

CREATE TABLE group_outcomes (
    group_id   text        PRIMARY KEY,
    outcome    text        NOT NULL CHECK (outcome IN ('completed', 'failed')),
    decided_at timestamptz NOT NULL,
    opened_at  timestamptz              -- completed groups: for the time to complete
);
CREATE INDEX group_outcomes_by_time ON group_outcomes (decided_at) INCLUDE (outcome, opened_at);

-- Seats taken through an invite (old brings new).
CREATE TABLE invites (
    seat_id         text        PRIMARY KEY,
    group_id        text        NOT NULL,
    user_id         text        NOT NULL,
    inviter_user_id text        NOT NULL,
    held_at         timestamptz NOT NULL
);
CREATE INDEX invites_by_time ON invites (held_at);

-- PLUS purchases and renewals of the line's users, once per payment reference.
CREATE TABLE memberships_sold (
    payment_reference text        PRIMARY KEY,
    user_id           text        NOT NULL,
    plan              text        NOT NULL,
    renewal           boolean     NOT NULL,
    sold_at           timestamptz NOT NULL,
    amount_minor      bigint      NOT NULL
);
CREATE INDEX memberships_sold_by_time ON memberships_sold (sold_at);

-- Events applied per partition (counted with each batch's facts), for GetConsumerStatus. A partition is
-- consumed by one member of the group at a time, so its row has one writer.
CREATE TABLE events_applied (
    topic           text        NOT NULL,
    partition       integer     NOT NULL,
    events          bigint      NOT NULL,
    last_applied_at timestamptz NOT NULL,
    PRIMARY KEY (topic, partition)
);

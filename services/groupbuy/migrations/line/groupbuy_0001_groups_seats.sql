-- Groups and their seats (pingou line only: schema groupbuy_pingou).
-- depends: events_0001_outbox_inbox

-- A group keeps the terms it was opened with for its whole life (prices and rule of the listing then).
-- seats_taken counts held and paid seats; the join path takes a seat with one conditional update, and the
-- CHECK makes "never more seats than the size" the database's promise, whatever the code above it does.
CREATE TABLE groups (
    group_id           uuid        PRIMARY KEY,
    sku_id             text        NOT NULL,
    leader_user_id     text        NOT NULL,
    state              text        NOT NULL DEFAULT 'open' CHECK (state IN ('open', 'completed', 'failed')),
    size               integer     NOT NULL CHECK (size BETWEEN 2 AND 50),
    seats_taken        integer     NOT NULL DEFAULT 0,
    seats_paid         integer     NOT NULL DEFAULT 0,
    group_price_minor  bigint      NOT NULL CHECK (group_price_minor > 0),
    leader_price_minor bigint      NOT NULL CHECK (leader_price_minor >= 0),
    per_user_limit     integer     NOT NULL DEFAULT 0 CHECK (per_user_limit >= 0),
    new_user_only      boolean     NOT NULL DEFAULT false,
    plus_only          boolean     NOT NULL DEFAULT false,
    strangers_can_join boolean     NOT NULL DEFAULT true,
    auto_match         boolean     NOT NULL DEFAULT true,
    share_code         text        NOT NULL UNIQUE,
    opened_at          timestamptz NOT NULL,
    expires_at         timestamptz NOT NULL,
    closed_at          timestamptz,
    failure_reason     text,
    flagged            boolean     NOT NULL DEFAULT false,
    identity_checked   boolean     NOT NULL DEFAULT false,
    CONSTRAINT seats_within_size CHECK (seats_taken BETWEEN 0 AND size),
    CONSTRAINT paid_within_taken CHECK (seats_paid BETWEEN 0 AND seats_taken),
    CONSTRAINT completed_means_full CHECK (state <> 'completed' OR seats_paid = size),
    CONSTRAINT closed_has_time CHECK ((state = 'open') = (closed_at IS NULL)),
    CONSTRAINT window_after_open CHECK (expires_at > opened_at)
);

-- Auto-match and the open-group list: a SKU's open groups, fullest first.
CREATE INDEX groups_open_by_sku ON groups (sku_id, seats_taken DESC, expires_at, group_id) WHERE state = 'open';
-- The window job: open groups by the end of their window.
CREATE INDEX groups_open_by_expiry ON groups (expires_at) WHERE state = 'open';
-- The identity check of completed groups.
CREATE INDEX groups_identity_unchecked ON groups (closed_at) WHERE state = 'completed' AND NOT identity_checked;

CREATE TABLE seats (
    seat_id          uuid        PRIMARY KEY,        -- also the idempotency key of the seat's order
    group_id         uuid        NOT NULL REFERENCES groups (group_id),
    user_id          text        NOT NULL,
    leader           boolean     NOT NULL,
    state            text        NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'paid', 'released')),
    request_key      text        NOT NULL,           -- the buyer's idempotency key
    invite_code      text        NOT NULL,
    inviter_user_id  text,
    unit_price_minor bigint      NOT NULL CHECK (unit_price_minor >= 0),
    shipping_city    text        NOT NULL,
    channel          smallint    NOT NULL,
    order_id         text,                           -- learnt from the order service
    held_at          timestamptz NOT NULL,
    pay_by           timestamptz NOT NULL,
    paid_at          timestamptz,
    released_at      timestamptz,
    release_reason   text,
    CONSTRAINT paid_has_time CHECK ((state = 'paid') = (paid_at IS NOT NULL)),
    CONSTRAINT released_has_time CHECK ((state = 'released') = (released_at IS NOT NULL))
);

-- A user is at most once in a group (a released seat no longer counts: they may take another).
CREATE UNIQUE INDEX seats_one_per_user_per_group ON seats (group_id, user_id) WHERE state <> 'released';
-- A retried open / join / auto-match finds the seat its first attempt took.
CREATE UNIQUE INDEX seats_request_key ON seats (user_id, request_key);
CREATE UNIQUE INDEX seats_invite_code ON seats (invite_code);
CREATE INDEX seats_by_user ON seats (user_id, held_at DESC, seat_id);
CREATE INDEX seats_by_order ON seats (order_id) WHERE order_id IS NOT NULL;
-- The backstop for holds no order event ever ended.
CREATE INDEX seats_held_by_deadline ON seats (pay_by) WHERE state = 'held';

-- Per-user limit: how many open groups of a SKU a user is in. The bound travels with the row so the
-- CHECK can refuse the seat that would pass it, inside the statement that takes the seat.
CREATE TABLE user_sku_groups (
    user_id  text    NOT NULL,
    sku_id   text    NOT NULL,
    active   integer NOT NULL CHECK (active >= 0),
    max_active integer NOT NULL,
    PRIMARY KEY (user_id, sku_id),
    CONSTRAINT per_user_limit CHECK (max_active = 0 OR active <= max_active)
);

-- Abuse cap: groups opened per user per (Asia/Shanghai) day.
CREATE TABLE daily_opens (
    user_id text    NOT NULL,
    day     date    NOT NULL,
    opened  integer NOT NULL,
    cap     integer NOT NULL,
    PRIMARY KEY (user_id, day),
    CONSTRAINT daily_open_cap CHECK (opened <= cap)
);

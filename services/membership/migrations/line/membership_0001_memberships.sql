-- One line's memberships, payments and coupon ledger; applied to membership_mall and membership_pingou alike.
-- depends: events_0001_outbox_inbox

-- The current membership of each account. `state` records whether its end was announced
-- (MembershipExpired): the expiry job claims active rows whose expiry has passed.
CREATE TABLE memberships (
    user_id    text        PRIMARY KEY,
    plan       text        NOT NULL CHECK (plan IN ('annual', 'monthly', 'trial')),
    state      text        NOT NULL CHECK (state IN ('active', 'expired')),
    started_at timestamptz NOT NULL,      -- start of the current uninterrupted run
    expires_at timestamptz NOT NULL,
    auto_renew boolean     NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now(),
    CHECK (expires_at > started_at)
);

-- What the expiry job scans: only memberships whose end is not yet announced.
CREATE INDEX memberships_due ON memberships (expires_at) WHERE state = 'active';

-- Every purchase and renewal, keyed by the provider's payment reference: a retry finds its row and
-- answers from it, so a payment is recorded (and announced) once. Each row is the period it bought;
-- IsMember(user, at) reads these periods, so it is right for any moment, past or future.
CREATE TABLE payments (
    payment_reference text        PRIMARY KEY,
    user_id           text        NOT NULL,
    kind              text        NOT NULL CHECK (kind IN ('purchase', 'renewal')),
    plan              text        NOT NULL CHECK (plan IN ('annual', 'monthly', 'trial')),
    amount_minor      bigint      NOT NULL CHECK (amount_minor >= 0),
    currency          text        NOT NULL CHECK (currency ~ '^[A-Z]{3}$'),
    run_started_at    timestamptz NOT NULL,
    starts_at         timestamptz NOT NULL,
    ends_at           timestamptz NOT NULL,
    auto_renew        boolean     NOT NULL,   -- the membership's auto-renew right after this payment
    recorded_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (ends_at > starts_at AND starts_at >= run_started_at)
);

CREATE INDEX payments_by_user ON payments (user_id, starts_at);

-- Free-shipping coupons, one ledger row per member and calendar month (Asia/Shanghai), granted lazily.
-- The CHECK is the last word on "never below zero", whatever the code above it does.
CREATE TABLE coupon_ledgers (
    user_id    text        NOT NULL,
    month      date        NOT NULL CHECK (extract(day FROM month) = 1),
    granted    integer     NOT NULL CHECK (granted >= 0),
    remaining  integer     NOT NULL CHECK (remaining >= 0 AND remaining <= granted),
    granted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, month)
);

-- One coupon per order: a retried use finds its row and answers from it.
CREATE TABLE coupon_uses (
    order_id        text        PRIMARY KEY,
    user_id         text        NOT NULL,
    month           date        NOT NULL,
    remaining_after integer     NOT NULL,
    used_at         timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (user_id, month) REFERENCES coupon_ledgers (user_id, month)
);

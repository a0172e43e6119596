-- Payment references across both lines (this shared schema holds what must be unique company-wide):
-- one provider payment buys one thing, whichever line's account it was made for. Written in the same
-- transaction as the line's payments row.
-- depends: membership_trials_0001_claims

CREATE TABLE payment_references (
    payment_reference text        PRIMARY KEY,
    line              text        NOT NULL CHECK (line IN ('mall', 'pingou')),
    user_id           text        NOT NULL,
    recorded_at       timestamptz NOT NULL DEFAULT now()
);

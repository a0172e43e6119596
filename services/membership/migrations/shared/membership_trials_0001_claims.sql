-- Trials taken, shared by both lines: "once per person" is this table's primary key. A trial purchase
-- claims the buyer's account and every account linked to it (segmentation's links) in the transaction
-- that records the membership; any claim already taken refuses the whole purchase. Account ids carry
-- their line (pu_ / mu_), so they never collide here.
-- depends:

CREATE TABLE trial_claims (
    user_id           text        PRIMARY KEY,
    claimed_by        text        NOT NULL,   -- the account that took the trial
    payment_reference text        NOT NULL,
    claimed_at        timestamptz NOT NULL DEFAULT now()
);

-- The pingou accounts segmentation's registry has announced (UserRegistered on pingou.user.v1), so a join
-- learns that its buyer is registered from groupbuy's own database instead of asking segmentation. An
-- account, once registered, stays registered; an account not here yet (its event still on the way) is
-- asked of segmentation, as before.
-- depends: groupbuy_0004_new_user_claims

CREATE TABLE registered_accounts (
    account_id    text        PRIMARY KEY,   -- pu_...
    registered_at timestamptz NOT NULL
);

-- The link table: the only place where accounts of different lines meet, and only through salted hashes.
-- Read by the analytics and service roles through segmentation's API, never by other services' SQL.
-- depends:

CREATE TABLE identity_links (
    identity_hash bytea       NOT NULL,   -- HMAC-SHA256(salt, kind:normalized value)
    kind          text        NOT NULL CHECK (kind IN ('wechat_unionid', 'phone')),
    line          text        NOT NULL CHECK (line IN ('mall', 'pingou')),
    user_id       text        NOT NULL,
    linked_at     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (line, user_id, kind),    -- one identity of each kind per account
    UNIQUE (identity_hash, line)          -- one account per person and line
);

CREATE INDEX identity_links_by_hash ON identity_links (identity_hash);

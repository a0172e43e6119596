-- Which accounts of the two lines belong to one person, as segmentation's identity links say (looked up
-- by analytics' link job, never read from segmentation's tables). Stored both ways, so an account's
-- links are one index range. Links are only ever added, as segmentation only ever adds them.
-- depends:

CREATE TABLE account_links (
    user_id        text        NOT NULL,
    linked_user_id text        NOT NULL,
    learnt_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (user_id, linked_user_id),
    CHECK (user_id <> linked_user_id)
);

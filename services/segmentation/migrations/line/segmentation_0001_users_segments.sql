-- One line's users and segments; applied to segmentation_mall and segmentation_pingou alike.
-- depends: events_0001_outbox_inbox

-- Numbers are issued per line; the id adds the line's prefix (pu_ / mu_), so ids never collide.
CREATE SEQUENCE user_number START 1000001;

CREATE TABLE users (
    user_id        text        PRIMARY KEY,
    user_number    bigint      NOT NULL UNIQUE,        -- registration order, the paging key
    city           text        NOT NULL CHECK (length(city) BETWEEN 1 AND 32),
    city_tier      smallint    NOT NULL CHECK (city_tier BETWEEN 1 AND 6),
    city_known     boolean     NOT NULL,
    channel        text        NOT NULL CHECK (channel IN ('pingou_app', 'wechat_mini_program', 'mall_app', 'h5')),
    registered_at  timestamptz NOT NULL DEFAULT now(),
    -- The profile, built from order, group and membership events.
    first_order_at timestamptz,
    order_count    integer     NOT NULL DEFAULT 0 CHECK (order_count >= 0),
    spend_minor    bigint      NOT NULL DEFAULT 0,
    plus_until     timestamptz,
    last_active_at timestamptz
);

CREATE INDEX users_by_tier ON users (city_tier, user_number);

-- Segments are versioned: redefining one adds a version; listings and answers use the latest.
CREATE TABLE segments (
    segment_id  text        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    description text        NOT NULL DEFAULT '',
    rule        jsonb       NOT NULL,
    created_by  text        NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (segment_id, version)
);

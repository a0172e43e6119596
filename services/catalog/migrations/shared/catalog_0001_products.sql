-- Products and their reference data, shared by both lines (schema `catalog`).
-- depends:

CREATE TABLE belts (
    belt_id    text PRIMARY KEY,
    name       text NOT NULL,
    province   text NOT NULL,
    city       text NOT NULL,
    speciality text NOT NULL
);

CREATE TABLE categories (
    category_id text PRIMARY KEY,
    name        text NOT NULL,
    parent_id   text REFERENCES categories
);

CREATE TABLE merchants (
    merchant_id    text PRIMARY KEY,
    name           text NOT NULL,
    belt_id        text REFERENCES belts,
    factory_direct boolean NOT NULL DEFAULT false
);

CREATE TABLE products (
    product_id     text PRIMARY KEY,
    merchant_id    text NOT NULL REFERENCES merchants,
    category_id    text NOT NULL REFERENCES categories,
    belt_id        text REFERENCES belts,
    factory_direct boolean NOT NULL,
    title          text NOT NULL CHECK (length(title) BETWEEN 1 AND 120),
    description    text NOT NULL DEFAULT '',
    image_urls     text[] NOT NULL DEFAULT '{}',
    attributes     jsonb NOT NULL DEFAULT '{}',
    created_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE skus (
    sku_id     text PRIMARY KEY,
    product_id text NOT NULL REFERENCES products,
    title      text NOT NULL,
    attributes jsonb NOT NULL DEFAULT '{}',
    image_url  text NOT NULL DEFAULT ''
);

CREATE INDEX skus_by_product ON skus (product_id);

CREATE TABLE orders (
    id                TEXT PRIMARY KEY,
    customer          TEXT NOT NULL,
    address           TEXT NOT NULL,
    currency          TEXT NOT NULL DEFAULT 'USD',
    status            TEXT NOT NULL CHECK (status IN ('placed', 'shipped', 'delivered', 'cancelled')),
    version           INTEGER NOT NULL CHECK (version >= 1),
    place_fingerprint TEXT NOT NULL,
    created_at        TIMESTAMP NOT NULL,
    updated_at        TIMESTAMP NOT NULL
);

--bun:split

CREATE INDEX orders_newest ON orders (created_at DESC, id DESC);

--bun:split

CREATE INDEX orders_status_newest ON orders (status, created_at DESC, id DESC);

--bun:split

CREATE TABLE order_lines (
    order_id         TEXT NOT NULL REFERENCES orders (id) ON DELETE CASCADE,
    position         INTEGER NOT NULL,
    sku              TEXT NOT NULL,
    name             TEXT NOT NULL,
    quantity         INTEGER NOT NULL CHECK (quantity BETWEEN 1 AND 1000),
    unit_price_cents INTEGER NOT NULL CHECK (unit_price_cents >= 0),
    PRIMARY KEY (order_id, position)
);

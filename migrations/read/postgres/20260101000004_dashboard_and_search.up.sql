-- The dashboard projection: a second projection of the same events, made
-- for one screen, kept by its own consumer of the event bus
-- (stages/stage3/projection/dashboard.go). dashboard_orders is its
-- per-order state — the last version applied and what the order adds to
-- the figures — so that each event changes the figures exactly once and in
-- order; the other tables are the figures themselves, changed by deltas.
-- A deleted order keeps its row (deleted = TRUE) and adds nothing.
CREATE TABLE dashboard_orders (
    id          UUID PRIMARY KEY,
    version     INTEGER NOT NULL,
    customer    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL,
    total_cents BIGINT NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE
);

--bun:split

-- Orders per status (deleted orders left out).
CREATE TABLE dashboard_statuses (
    status TEXT PRIMARY KEY,
    orders BIGINT NOT NULL
);

--bun:split

-- Revenue per currency: the orders that are not cancelled.
CREATE TABLE dashboard_revenue (
    currency TEXT PRIMARY KEY,
    orders   BIGINT NOT NULL,
    cents    BIGINT NOT NULL
);

--bun:split

-- Per customer, the orders that are not cancelled and what they add up to
-- in every currency together (cents, only to rank by), ranked by the index
-- (names byte by byte, as the app ranks them: the C collation).
CREATE TABLE dashboard_customers (
    customer TEXT PRIMARY KEY,
    orders   BIGINT NOT NULL,
    cents    BIGINT NOT NULL
);

--bun:split

CREATE INDEX dashboard_customers_top ON dashboard_customers (orders DESC, cents DESC, customer COLLATE "C");

--bun:split

-- Per customer and currency, what the top customers have spent.
CREATE TABLE dashboard_customer_revenue (
    customer TEXT NOT NULL,
    currency TEXT NOT NULL,
    orders   BIGINT NOT NULL,
    cents    BIGINT NOT NULL,
    PRIMARY KEY (customer, currency)
);

--bun:split

-- Search by customer through a trigram index (pg_trgm, GIN): the list's
-- lower(customer) LIKE '%…%' is answered from the index instead of reading
-- every row. A rebuild's shadow copy (LIKE … INCLUDING ALL) gets it too.
CREATE EXTENSION IF NOT EXISTS pg_trgm;

--bun:split

CREATE INDEX order_views_customer_trgm ON order_views USING gin (lower(customer) gin_trgm_ops);

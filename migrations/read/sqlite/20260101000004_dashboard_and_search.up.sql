-- The dashboard projection: a second projection of the same events, made
-- for one screen, kept by its own consumer of the event bus
-- (stages/stage3/projection/dashboard.go). dashboard_orders is its
-- per-order state — the last version applied and what the order adds to
-- the figures — so that each event changes the figures exactly once and in
-- order; the other tables are the figures themselves, changed by deltas.
-- A deleted order keeps its row (deleted = TRUE) and adds nothing.
CREATE TABLE dashboard_orders (
    id          TEXT NOT NULL PRIMARY KEY,
    version     INTEGER NOT NULL,
    customer    TEXT NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL,
    total_cents INTEGER NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE
);

--bun:split

-- Orders per status (deleted orders left out).
CREATE TABLE dashboard_statuses (
    status TEXT NOT NULL PRIMARY KEY,
    orders INTEGER NOT NULL
);

--bun:split

-- Revenue per currency: the orders that are not cancelled.
CREATE TABLE dashboard_revenue (
    currency TEXT NOT NULL PRIMARY KEY,
    orders   INTEGER NOT NULL,
    cents    INTEGER NOT NULL
);

--bun:split

-- Per customer, the orders that are not cancelled and what they add up to
-- in every currency together (cents, only to rank by), ranked by the index.
CREATE TABLE dashboard_customers (
    customer TEXT NOT NULL PRIMARY KEY,
    orders   INTEGER NOT NULL,
    cents    INTEGER NOT NULL
);

--bun:split

CREATE INDEX dashboard_customers_top ON dashboard_customers (orders DESC, cents DESC, customer);

--bun:split

-- Per customer and currency, what the top customers have spent.
CREATE TABLE dashboard_customer_revenue (
    customer TEXT NOT NULL,
    currency TEXT NOT NULL,
    orders   INTEGER NOT NULL,
    cents    INTEGER NOT NULL,
    PRIMARY KEY (customer, currency)
);

--bun:split

-- Search by customer through a trigram index (FTS5): a substring of three
-- characters or more is found without reading every row. The index follows
-- order_views by rowid, kept by triggers, so every writer of order_views —
-- the projector, a rebuild, a sync — keeps it too; a rebuild's shadow copy
-- gets its own (order_views_shadow_search) and swaps in with it.
CREATE VIRTUAL TABLE order_views_search USING fts5(customer, tokenize = 'trigram');

--bun:split

CREATE TRIGGER order_views_search_insert AFTER INSERT ON order_views BEGIN
    INSERT INTO order_views_search (rowid, customer) VALUES (new.rowid, new.customer);
END;

--bun:split

CREATE TRIGGER order_views_search_update AFTER UPDATE OF customer ON order_views BEGIN
    UPDATE order_views_search SET customer = new.customer WHERE rowid = new.rowid;
END;

--bun:split

CREATE TRIGGER order_views_search_delete AFTER DELETE ON order_views BEGIN
    DELETE FROM order_views_search WHERE rowid = old.rowid;
END;

--bun:split

INSERT INTO order_views_search (rowid, customer) SELECT rowid, customer FROM order_views;

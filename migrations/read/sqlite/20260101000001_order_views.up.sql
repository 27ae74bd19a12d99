-- Stage 3's read database: tables made for the screens, filled by the
-- projector from the events (stages/stage3/projection). One row per order
-- with everything the list shows, so the list needs no join. A deleted order
-- keeps its row as a tombstone (deleted = TRUE) so that a redelivered older
-- event of it stays a no-op; every query leaves tombstones out.
--
-- stages/stage3/projection builds the shadow copies (order_views_shadow, …)
-- from the same definitions: change both together (its tests compare them).
CREATE TABLE order_views (
    id          TEXT NOT NULL PRIMARY KEY,
    customer    TEXT NOT NULL,
    address     TEXT NOT NULL,
    currency    TEXT NOT NULL,
    status      TEXT NOT NULL,
    version     INTEGER NOT NULL,
    line_count  INTEGER NOT NULL,
    total_cents INTEGER NOT NULL,
    lines       TEXT NOT NULL,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL,
    deleted     BOOLEAN NOT NULL DEFAULT FALSE
);

--bun:split

CREATE INDEX order_views_newest ON order_views (created_at DESC, id DESC);

--bun:split

CREATE INDEX order_views_status_newest ON order_views (status, created_at DESC, id DESC);

--bun:split

CREATE TABLE order_history (
    order_id    TEXT NOT NULL,
    version     INTEGER NOT NULL,
    type        TEXT NOT NULL,
    occurred_at TIMESTAMP NOT NULL,
    text        TEXT NOT NULL,
    PRIMARY KEY (order_id, version)
);

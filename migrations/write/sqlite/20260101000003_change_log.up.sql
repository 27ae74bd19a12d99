-- Stage 3's change log (transactional outbox): every write transaction
-- appends its events here, in the same transaction as the change. SQLite
-- runs one write transaction at a time (the app opens it with
-- _txlock=immediate), so seq order is commit order and a reader reads by
-- seq alone. AUTOINCREMENT: a seq is never reused, even after the newest
-- row is deleted.
CREATE TABLE change_log (
    seq            INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id       TEXT NOT NULL UNIQUE,
    order_id       TEXT NOT NULL,
    order_version  INTEGER NOT NULL CHECK (order_version >= 1),
    type           TEXT NOT NULL,
    schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
    payload        TEXT NOT NULL,
    occurred_at    TIMESTAMP NOT NULL,
    UNIQUE (order_id, order_version)
);

--bun:split

-- How far each named reader (the relay) got: (tx_id, seq) of the last entry
-- it handled; tx_id is 0 on SQLite.
CREATE TABLE relay_positions (
    name   TEXT PRIMARY KEY,
    tx_id  BIGINT NOT NULL DEFAULT 0,
    seq    BIGINT NOT NULL DEFAULT 0
);

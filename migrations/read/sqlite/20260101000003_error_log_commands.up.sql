-- The error log also keeps commands the command bus could not take
-- (kind 'command': one that does not decode, or that kept failing), and an
-- operator may discard an entry rather than replay it (status discarded).
-- For a command, event_id is the command ID and order_version 0. SQLite
-- cannot change a CHECK constraint: the table is copied.
CREATE TABLE error_log_new (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    order_id        TEXT NOT NULL,
    order_version   INTEGER NOT NULL,
    type            TEXT NOT NULL,
    envelope        TEXT NOT NULL,
    error           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('parked', 'held', 'replayed', 'discarded')),
    first_failed_at TIMESTAMP NOT NULL,
    last_failed_at  TIMESTAMP NOT NULL,
    kind            TEXT NOT NULL DEFAULT 'event' CHECK (kind IN ('event', 'command'))
);

--bun:split

INSERT INTO error_log_new (id, event_id, order_id, order_version, type, envelope, error, attempts, status, first_failed_at, last_failed_at)
SELECT id, event_id, order_id, order_version, type, envelope, error, attempts, status, first_failed_at, last_failed_at FROM error_log;

--bun:split

DROP TABLE error_log;

--bun:split

ALTER TABLE error_log_new RENAME TO error_log;

--bun:split

CREATE INDEX error_log_order ON error_log (order_id, status, order_version);

CREATE TABLE error_log_old (
    id              INTEGER PRIMARY KEY,
    event_id        TEXT NOT NULL UNIQUE,
    order_id        TEXT NOT NULL,
    order_version   INTEGER NOT NULL,
    type            TEXT NOT NULL,
    envelope        TEXT NOT NULL,
    error           TEXT NOT NULL,
    attempts        INTEGER NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('parked', 'held', 'replayed')),
    first_failed_at TIMESTAMP NOT NULL,
    last_failed_at  TIMESTAMP NOT NULL
);

--bun:split

INSERT INTO error_log_old (id, event_id, order_id, order_version, type, envelope, error, attempts, status, first_failed_at, last_failed_at)
SELECT id, event_id, order_id, order_version, type, envelope, error, attempts,
       CASE status WHEN 'discarded' THEN 'replayed' ELSE status END, first_failed_at, last_failed_at
FROM error_log WHERE kind = 'event';

--bun:split

DROP TABLE error_log;

--bun:split

ALTER TABLE error_log_old RENAME TO error_log;

--bun:split

CREATE INDEX error_log_order ON error_log (order_id, status, order_version);

-- Events the projector could not apply after its retries (status parked),
-- and the later events of the same order held behind them so that per-order
-- order is kept (status held). Replay applies them again (status replayed).
-- envelope is the message as it arrived.
CREATE TABLE error_log (
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

CREATE INDEX error_log_order ON error_log (order_id, status, order_version);

-- Stage 3's change log (transactional outbox): every write transaction
-- appends its events here, in the same transaction as the change.
--
-- seq alone is not commit order on PostgreSQL: a transaction can take seq 7,
-- another take seq 8 and commit first, and a reader that saw 8 and moved on
-- would never see 7. So every row also records its transaction's id, and
-- readers take only rows whose tx_id is below the oldest transaction still
-- running (pg_snapshot_xmin), in (tx_id, seq) order: no transaction can
-- still add a row before that point.
CREATE TABLE change_log (
    seq            BIGSERIAL PRIMARY KEY,
    tx_id          xid8 NOT NULL DEFAULT pg_current_xact_id(),
    event_id       UUID NOT NULL UNIQUE,
    order_id       UUID NOT NULL,
    order_version  INTEGER NOT NULL CHECK (order_version >= 1),
    type           TEXT NOT NULL,
    schema_version INTEGER NOT NULL CHECK (schema_version >= 1),
    payload        JSONB NOT NULL,
    occurred_at    TIMESTAMPTZ NOT NULL,
    UNIQUE (order_id, order_version)
);

--bun:split

CREATE INDEX change_log_commit_order ON change_log (tx_id, seq);

--bun:split

-- How far each named reader (the relay) got: (tx_id, seq) of the last entry
-- it handled.
CREATE TABLE relay_positions (
    name   TEXT PRIMARY KEY,
    tx_id  BIGINT NOT NULL DEFAULT 0,
    seq    BIGINT NOT NULL DEFAULT 0
);

-- Stage 3's command bus (command-bus=async): every command taken off the
-- bus is recorded here by its message UUID. An applied command is recorded
-- in the transaction that applies it, so a redelivered copy finds the row
-- and is not applied twice; a rejected one is recorded with its error, for
-- the caller that polls the command's status and for the order's page.
CREATE TABLE processed_commands (
    command_id    UUID PRIMARY KEY,
    order_id      UUID NOT NULL,
    type          TEXT NOT NULL,
    status        TEXT NOT NULL CHECK (status IN ('applied', 'rejected')),
    -- applied: the version the command made; rejected: the order's version
    -- when it was rejected (0 if it did not exist).
    version       INTEGER NOT NULL DEFAULT 0,
    error_code    TEXT NOT NULL DEFAULT '',
    error_message TEXT NOT NULL DEFAULT '',
    processed_at  TIMESTAMPTZ NOT NULL
);

--bun:split

CREATE INDEX processed_commands_order ON processed_commands (order_id, version);

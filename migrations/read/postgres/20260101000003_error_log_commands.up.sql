-- The error log also keeps commands the command bus could not take
-- (kind 'command': one that does not decode, or that kept failing), and an
-- operator may discard an entry rather than replay it (status discarded).
-- For a command, event_id is the command ID and order_version 0.
ALTER TABLE error_log ADD COLUMN kind TEXT NOT NULL DEFAULT 'event' CHECK (kind IN ('event', 'command'));

--bun:split

ALTER TABLE error_log DROP CONSTRAINT error_log_status_check;

--bun:split

ALTER TABLE error_log ADD CONSTRAINT error_log_status_check CHECK (status IN ('parked', 'held', 'replayed', 'discarded'));

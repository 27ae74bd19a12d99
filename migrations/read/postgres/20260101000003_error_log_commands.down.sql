DELETE FROM error_log WHERE kind = 'command';

--bun:split

UPDATE error_log SET status = 'replayed' WHERE status = 'discarded';

--bun:split

ALTER TABLE error_log DROP CONSTRAINT error_log_status_check;

--bun:split

ALTER TABLE error_log ADD CONSTRAINT error_log_status_check CHECK (status IN ('parked', 'held', 'replayed'));

--bun:split

ALTER TABLE error_log DROP COLUMN kind;

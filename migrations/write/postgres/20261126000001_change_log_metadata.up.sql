-- Metadata carried with each change-log row to the event bus, as a JSON
-- object of strings: the relay puts it on the event's message. It holds
-- the trace context of the request that made the change (traceparent), so
-- that publishing and projecting the event join that request's trace, in
-- this process or another, before or after a restart. NULL: none.
ALTER TABLE change_log ADD COLUMN metadata JSONB;

ALTER TABLE change_log DROP COLUMN metadata;

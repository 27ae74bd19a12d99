DROP TABLE relay_positions;

--bun:split

DROP TABLE change_log;

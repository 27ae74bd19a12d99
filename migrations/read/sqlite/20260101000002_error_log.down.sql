DROP TABLE error_log;

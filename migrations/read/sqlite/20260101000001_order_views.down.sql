DROP TABLE order_history;

--bun:split

DROP TABLE order_views;

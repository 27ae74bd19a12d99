DROP TABLE order_lines;

--bun:split

DROP TABLE orders;

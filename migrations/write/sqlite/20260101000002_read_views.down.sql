DROP VIEW customer_revenue;

--bun:split

DROP VIEW order_status_counts;

--bun:split

DROP VIEW order_summaries;

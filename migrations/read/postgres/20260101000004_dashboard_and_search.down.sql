DROP INDEX order_views_customer_trgm;

--bun:split

DROP TABLE dashboard_customer_revenue;

--bun:split

DROP TABLE dashboard_customers;

--bun:split

DROP TABLE dashboard_revenue;

--bun:split

DROP TABLE dashboard_statuses;

--bun:split

DROP TABLE dashboard_orders;

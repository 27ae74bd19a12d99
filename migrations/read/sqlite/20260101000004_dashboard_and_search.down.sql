DROP TRIGGER order_views_search_delete;

--bun:split

DROP TRIGGER order_views_search_update;

--bun:split

DROP TRIGGER order_views_search_insert;

--bun:split

DROP TABLE order_views_search;

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

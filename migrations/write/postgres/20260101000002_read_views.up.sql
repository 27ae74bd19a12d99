-- Stage 2's read model: views shaped for the screens, over the tables the
-- write model saves to. Correlated subqueries rather than a grouped join
-- keep the views filterable and pageable through the orders indexes.
CREATE VIEW order_summaries AS
SELECT o.id,
       o.customer,
       o.status,
       o.currency,
       (SELECT COUNT(*) FROM order_lines l WHERE l.order_id = o.id) AS line_count,
       (SELECT CAST(COALESCE(SUM(l.quantity * l.unit_price_cents), 0) AS BIGINT)
          FROM order_lines l WHERE l.order_id = o.id) AS total_cents,
       o.version,
       o.created_at,
       o.updated_at
  FROM orders o;

--bun:split

CREATE VIEW order_status_counts AS
SELECT status, COUNT(*) AS orders
  FROM orders
 GROUP BY status;

--bun:split

-- What each customer spent per currency on orders that are not cancelled.
CREATE VIEW customer_revenue AS
SELECT customer,
       currency,
       COUNT(*) AS orders,
       CAST(COALESCE(SUM(total_cents), 0) AS BIGINT) AS cents
  FROM order_summaries
 WHERE status <> 'cancelled'
 GROUP BY customer, currency;

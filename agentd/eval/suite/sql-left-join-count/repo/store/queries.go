// Package store holds the shop's SQL; the service runs it through database/sql.
package store

// CustomerStatsSQL gives, for customers $1 to $2 (ids), the number of orders and their total.
const CustomerStatsSQL = `
SELECT c.id, count(*) AS orders, coalesce(sum(o.total_cents), 0) AS total_cents
FROM customers c
LEFT JOIN orders o ON o.customer_id = c.id
WHERE c.id BETWEEN $1 AND $2
GROUP BY c.id
ORDER BY c.id`

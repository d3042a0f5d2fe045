// Package store holds the shop's SQL; the service runs it through database/sql.
package store

// InactiveCustomersSQL lists the customers who have never placed an order, by id.
const InactiveCustomersSQL = `
SELECT c.id, c.name
FROM customers c
WHERE c.id NOT IN (SELECT o.customer_id FROM orders o)
ORDER BY c.id`

// Package store holds the shop's SQL; the service runs it through database/sql.
package store

// CustomerOrdersSQL lists a customer's 20 latest orders: $1 is the customer id.
const CustomerOrdersSQL = `
SELECT id, total_cents, created_at
FROM orders
WHERE customer_id = $1
ORDER BY created_at DESC
LIMIT 20`

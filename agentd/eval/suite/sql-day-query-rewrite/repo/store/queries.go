// Package store holds the shop's SQL; the service runs it through database/sql.
package store

// OrdersOnDaySQL lists the orders of one calendar day, oldest first: $1 is the day (a date).
const OrdersOnDaySQL = `
SELECT id, customer_id, total_cents, created_at
FROM orders
WHERE created_at::date = $1::date
ORDER BY created_at, id`

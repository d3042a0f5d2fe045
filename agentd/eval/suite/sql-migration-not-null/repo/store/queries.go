// Package store holds the shop's SQL; the service runs it through database/sql.
package store

// OpenOrdersSQL counts the orders that have not been delivered yet.
const OpenOrdersSQL = `SELECT count(*) FROM orders WHERE status <> 'delivered'`

// CreateOrderSQL adds an order: $1 id, $2 customer id, $3 total in cents.
const CreateOrderSQL = `INSERT INTO orders (id, customer_id, total_cents, created_at) VALUES ($1, $2, $3, now())`

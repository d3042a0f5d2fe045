// Package store holds the shop's SQL; the service runs it through database/sql.
package store

// UserByEmailSQL finds the customer with an e-mail address, in any case: $1 is the address.
const UserByEmailSQL = `
SELECT id, name, email
FROM customers
WHERE lower(email) = lower($1)`

-- The first schema of the shop.
CREATE TABLE customers (
	id bigint PRIMARY KEY,
	name text NOT NULL,
	email text NOT NULL
);

CREATE TABLE orders (
	id bigint PRIMARY KEY,
	customer_id bigint REFERENCES customers (id),
	total_cents integer NOT NULL,
	created_at timestamp NOT NULL
);

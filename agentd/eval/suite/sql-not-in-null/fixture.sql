-- The shop's production database, shrunk: migration 0001 applied, then data.
CREATE TABLE schema_migrations (name text PRIMARY KEY);
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
INSERT INTO schema_migrations VALUES ('0001_schema.sql');
INSERT INTO customers SELECT g, 'Customer ' || g, 'Customer' || g || '@Example.com' FROM generate_series(1, 10000) AS g;
INSERT INTO orders SELECT g, 1 + (g * 7919) % 10000, (g * 37) % 10000, timestamp '2024-01-01' + (g % 525600) * interval '1 minute' FROM generate_series(1, 100000) AS g;
DELETE FROM orders WHERE customer_id % 10 = 3;
INSERT INTO orders SELECT 200000 + g, NULL, 100, timestamp '2024-04-01' + g * interval '1 hour' FROM generate_series(1, 50) AS g;

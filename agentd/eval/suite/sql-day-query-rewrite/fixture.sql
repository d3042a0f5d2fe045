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
CREATE INDEX orders_created_at_idx ON orders (created_at);
INSERT INTO schema_migrations VALUES ('0002_orders_created_at_index.sql');
INSERT INTO orders VALUES (100001, 1, 500, timestamp '2024-03-05 00:00:00'), (100002, 2, 600, timestamp '2024-03-05 23:59:59.999999'), (100003, 3, 700, timestamp '2024-03-06 00:00:00');

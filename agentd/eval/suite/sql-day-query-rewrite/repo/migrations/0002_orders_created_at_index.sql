-- Reports filter orders by time.
CREATE INDEX orders_created_at_idx ON orders (created_at);

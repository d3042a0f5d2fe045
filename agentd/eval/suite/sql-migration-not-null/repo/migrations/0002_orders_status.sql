-- Orders get a status: new, paid, shipped or delivered.
ALTER TABLE orders ADD COLUMN status text NOT NULL
	CHECK (status IN ('new', 'paid', 'shipped', 'delivered'));

-- migrate:no-transaction

-- Built without blocking writes to orders.
CREATE INDEX CONCURRENTLY orders_created_at_idx ON orders (created_at);

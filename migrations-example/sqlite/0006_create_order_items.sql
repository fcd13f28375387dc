-- migrate:up
CREATE TABLE order_items (
    id INTEGER PRIMARY KEY,
    order_id INTEGER NOT NULL REFERENCES orders (id),
    sku TEXT NOT NULL,
    quantity INTEGER NOT NULL DEFAULT 1,
    price_cents INTEGER NOT NULL
);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);

-- migrate:down
DROP INDEX order_items_order_id_idx;
-- migrate:archive
DROP TABLE order_items;

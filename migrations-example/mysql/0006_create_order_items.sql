-- migrate:up
CREATE TABLE order_items (
    id BIGINT AUTO_INCREMENT PRIMARY KEY,
    order_id BIGINT NOT NULL REFERENCES orders (id),
    sku VARCHAR(64) NOT NULL,
    quantity INTEGER NOT NULL DEFAULT 1,
    price_cents INTEGER NOT NULL
);
CREATE INDEX order_items_order_id_idx ON order_items (order_id);

-- migrate:down
-- MySQL will not drop an index a foreign key uses; dropping the table drops both.
-- migrate:archive
DROP TABLE order_items;

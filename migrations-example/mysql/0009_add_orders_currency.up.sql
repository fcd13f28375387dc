-- Orders carry their currency; existing orders were all in euros.
ALTER TABLE orders ADD COLUMN currency VARCHAR(64) NOT NULL DEFAULT 'EUR';

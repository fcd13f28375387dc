-- Orders carry their currency; existing orders were all in euros.
ALTER TABLE orders ADD COLUMN currency TEXT NOT NULL DEFAULT 'EUR';

-- migrate:archive
ALTER TABLE orders DROP COLUMN currency;

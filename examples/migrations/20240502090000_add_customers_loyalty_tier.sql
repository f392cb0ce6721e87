-- An ALTER TABLE runs online: a ghost table, the rows copied in chunks, the binlog applied, a short cut-over.
ALTER TABLE customers ADD COLUMN loyalty_tier TINYINT UNSIGNED NOT NULL DEFAULT 0;

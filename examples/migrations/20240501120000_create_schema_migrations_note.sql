-- A plain statement: it runs as written, before the ALTERs of the later migrations.
CREATE TABLE IF NOT EXISTS order_notes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id BIGINT NOT NULL,
  body TEXT NOT NULL  -- "notes; with semicolons" are fine in comments and 'strings; too'
);

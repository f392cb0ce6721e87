-- A plain statement runs as written (write it so that running it again does no harm).
CREATE TABLE IF NOT EXISTS order_notes (
  id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY,
  order_id BIGINT NOT NULL,
  body TEXT NOT NULL,  -- a ';' in a comment, or in a 'string; like this', does not end the statement
  KEY (order_id)
);

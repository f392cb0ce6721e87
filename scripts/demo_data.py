"""Load the demo's sample database into a sandbox: a small shop.

Used by scripts/demo.sh; run with .venv/bin/python and PYTHONPATH pointing at
.build/collections. Rows are generated deterministically (seeded), so every
demo run moves the same data.
"""

from __future__ import annotations

import argparse
import random

from ansible_collections.dbferry.mysql.plugins.module_utils import sandbox
from ansible_collections.dbferry.mysql.plugins.module_utils.connection import connect, execute

SCHEMA = (
    "CREATE DATABASE shop",
    "CREATE TABLE shop.customers (id BIGINT UNSIGNED PRIMARY KEY, email VARCHAR(190) NOT NULL UNIQUE,"
    " name VARCHAR(100) NOT NULL, created_at TIMESTAMP(6) NOT NULL, vip BOOLEAN NOT NULL DEFAULT 0)",
    "CREATE TABLE shop.products (id INT PRIMARY KEY, sku CHAR(12) NOT NULL, title VARCHAR(200) NOT NULL,"
    " price DECIMAL(10,2) NOT NULL, attributes JSON)",
    "CREATE TABLE shop.orders (id BIGINT PRIMARY KEY, customer_id BIGINT UNSIGNED NOT NULL, status ENUM('new','paid','shipped','void') NOT NULL,"
    " total DECIMAL(12,2) NOT NULL, placed_at DATETIME(3) NOT NULL, KEY (customer_id))",
    "CREATE TABLE shop.returns (id INT PRIMARY KEY, order_id BIGINT NOT NULL, reason TEXT)",
    "CREATE VIEW shop.paid_orders AS SELECT id, customer_id, total FROM shop.orders WHERE status = 'paid'",
)


def load(server: sandbox.Sandbox, customers: int, orders: int) -> None:
    rng = random.Random(42)
    conn = connect(server.spec("root"), autocommit=False)
    try:
        for statement in SCHEMA:
            execute(conn, statement)
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO shop.customers VALUES (%s, %s, %s, FROM_UNIXTIME(%s), %s)",
                [(i, "c%d@example.com" % i, "Customer %d \N{SMILING FACE WITH SMILING EYES}" % i, 1600000000 + i * 37.25, i % 17 == 0)
                 for i in range(1, customers + 1)],
            )
            cur.executemany(
                "INSERT INTO shop.products VALUES (%s, %s, %s, %s, %s)",
                [(i, "SKU%09d" % i, "Product %d" % i, rng.randint(100, 99999) / 100, '{"color": "c%d"}' % (i % 7))
                 for i in range(1, 501)],
            )
            cur.executemany(
                "INSERT INTO shop.orders VALUES (%s, %s, %s, %s, FROM_UNIXTIME(%s))",
                [(i, rng.randint(1, customers), rng.choice(["new", "paid", "shipped", "void"]), rng.randint(100, 500000) / 100,
                  1650000000 + i * 11.5) for i in range(1, orders + 1)],
            )
        conn.commit()
    finally:
        conn.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--dir", required=True, help="sandbox folder")
    parser.add_argument("--name", default="source", help="sandbox to load (default source)")
    parser.add_argument("--customers", type=int, default=20000)
    parser.add_argument("--orders", type=int, default=100000)
    args = parser.parse_args()
    load(sandbox.get(args.dir, args.name), args.customers, args.orders)


if __name__ == "__main__":
    main()
